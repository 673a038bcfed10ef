export { writeReport, type ReportOptions } from './write.js';
export { renderSvg, niceTicks } from './svg.js';
export { svgToPng } from './png.js';
export { renderIndex, ratio } from './html.js';
export {
  loadPaperTargets,
  defaultPaperTargetsPath,
  PaperTargetsError,
  type PaperPoint,
} from './paper-targets.js';
