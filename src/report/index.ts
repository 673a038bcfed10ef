export { writeReport, type ReportOptions, type ReportFiles } from './write.js';
export { renderSvg } from './svg.js';
export { svgToPng, defaultFontFamily } from './png.js';
export { renderIndex, type FigureSection } from './html.js';
export { niceTicks, formatTicks } from './ticks.js';
export { escapeXml, formatValue, formatRatio } from './text.js';
export { panelSeries, type ConfigSeries, type EngineSeries, type OurPoint } from './series.js';
export { resultFileName, readStoredResults, isFigureResult } from './result-files.js';
export { fallbackSpec } from './fallback-spec.js';
export {
  loadPaperTargets,
  paperPointsForPanel,
  defaultPaperTargetsPath,
  findPaperTargets,
  paperSource,
  type PaperSource,
  paperTargetsCandidates,
  packageRoot,
  PaperTargetsError,
  type PaperPoint,
  type PanelPaperPoint,
} from './paper-targets.js';
export { crossCheck, crossCheckMarkdown, crossCheckHtml, type CrossCheckRow } from './cross-check.js';
export {
  loadClaims,
  defaultClaimsPath,
  ClaimsFileError,
  type ClaimsFile,
  type ClaimSpec,
} from './claims-data.js';
export { checkClaims, claimsJson, type ClaimsReport, type ClaimRow } from './claims.js';
export { claimsMarkdown, claimsHtml } from './claims-text.js';
export { pointRows, figureStats, type PointRow, type FigureStats } from './figure-error.js';
