import type { ConfigName, MetricName } from './results.js';

/** One panel of a paper figure: which of our metrics it shows and how the paper scales it. */
export interface PanelSpec {
  /** The `figure` field of `paper-targets.json` entries for this panel, e.g. "Figure 9a". */
  paperFigure: string;
  metric: MetricName;
  /** When one paper figure holds several metrics: the `metric` of its entries in paper-targets.json. */
  paperMetric?: string;
  /** Our metric is divided by this to get the paper's unit (e.g. 1000 for "thousands"). */
  divisor: number;
  yLabel: string;
}

export interface FigureSpec {
  id: string;
  title: string;
  kind: 'bars' | 'lines';
  xLabel: string;
  panels: PanelSpec[];
  /** Paper series name for each of our configurations (the paper calls `balloon` "balloon+baseline"). */
  paperSeries: Partial<Record<ConfigName, string>>;
}

const PAPER_SERIES: FigureSpec['paperSeries'] = {
  baseline: 'baseline',
  balloon: 'balloon+baseline',
  mapper: 'mapper',
  vswapper: 'vswapper',
  'balloon+vswapper': 'balloon+vswapper',
};

export const FIGURE_SPECS: Record<string, FigureSpec> = {
  fig10: {
    id: 'fig10',
    title: 'Fig. 10: false reads: a process allocates and touches 200 MB after the Sysbench reads',
    kind: 'bars',
    xLabel: '',
    panels: [
      {
        paperFigure: 'Figure 10',
        paperMetric: 'runtime',
        metric: 'runtimeS',
        divisor: 1,
        yLabel: 'runtime [s]',
      },
      {
        paperFigure: 'Figure 10',
        paperMetric: 'disk operations',
        metric: 'diskOps',
        divisor: 1000,
        yLabel: 'disk operations [K]',
      },
    ],
    paperSeries: { ...PAPER_SERIES, mapper: 'vswapper w/o preventer (= mapper)' },
  },
  fig3: {
    id: 'fig3',
    title: 'Fig. 3: Sysbench 200 MB sequential read, guest believes 512 MB, has 100 MB',
    kind: 'bars',
    xLabel: '',
    panels: [{ paperFigure: 'Figure 3', metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' }],
    paperSeries: PAPER_SERIES,
  },
  fig9: {
    id: 'fig9',
    title: 'Fig. 9: Sysbench iterations (200 MB file, 512 MB guest with 100 MB)',
    kind: 'lines',
    xLabel: 'iteration',
    panels: [
      { paperFigure: 'Figure 9a', metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' },
      {
        paperFigure: 'Figure 9b',
        metric: 'hostFaultsInHost',
        divisor: 1000,
        yLabel: 'faults while host runs [K]',
      },
      {
        paperFigure: 'Figure 9c',
        metric: 'hostFaultsInGuest',
        divisor: 1000,
        yLabel: 'faults while guest runs [K]',
      },
      {
        paperFigure: 'Figure 9d',
        metric: 'swapWriteSectors',
        divisor: 1000,
        yLabel: 'swap sectors written [K]',
      },
    ],
    paperSeries: PAPER_SERIES,
  },
};
