import type { ConfigName, MetricName } from '../engine/results.js';

/** One panel of a paper figure: which of our metrics it shows and how the paper scales it. */
export interface PanelSpec {
  /** The `figure` field of `paper-targets.json` entries for this panel, e.g. "Figure 9a". */
  paperFigure: string;
  metric: MetricName;
  /** When one paper figure holds several metrics: the `metric` of its entries in paper-targets.json. */
  paperMetric?: string;
  /** When one paper "figure" holds several experiments (§5.4's text): the `workload` of its entries. */
  paperWorkload?: string;
  /** Our metric is divided by this to get the paper's unit (e.g. 1000 for "thousands"). */
  divisor: number;
  yLabel: string;
  /** The paper's series name per configuration for this panel, when it differs from the figure's. */
  paperSeries?: Partial<Record<ConfigName, string>>;
  /** A log y axis: for panels whose series differ some 30x, which a linear axis squeezes into one band. */
  yLog?: boolean;
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

/** §5.1's figures plot balloon+baseline only (the two balloon configurations were alike). */
const CONTROLLED_SERIES: FigureSpec['paperSeries'] = {
  baseline: 'baseline',
  balloon: 'balloon+baseline',
  mapper: 'mapper',
  vswapper: 'vswapper',
};

const MEMORY_AXIS = "guest's actual memory [MB]";
/** Pages per MiB, to plot page counts in the paper's MB. */
const PAGES_PER_MIB = 256;

export const FIGURE_SPECS: Record<string, FigureSpec> = {
  fig5: {
    id: 'fig5',
    title: 'Fig. 5: pbzip2 (8 threads) compressing the Linux source in a 512 MB guest',
    kind: 'lines',
    xLabel: MEMORY_AXIS,
    panels: [{ paperFigure: 'Figure 5', metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' }],
    paperSeries: CONTROLLED_SERIES,
  },
  fig11: {
    id: 'fig11',
    title: "Fig. 11: pbzip2's disk activity and host reclaim",
    kind: 'lines',
    xLabel: MEMORY_AXIS,
    panels: [
      { paperFigure: 'Figure 11a', metric: 'diskOps', divisor: 1000, yLabel: 'disk operations [K]' },
      { paperFigure: 'Figure 11b', metric: 'swapWriteSectors', divisor: 1000, yLabel: 'written sectors [K]' },
      { paperFigure: 'Figure 11c', metric: 'pagesScanned', divisor: 1e6, yLabel: 'pages scanned [M]' },
    ],
    paperSeries: CONTROLLED_SERIES,
  },
  fig12: {
    id: 'fig12',
    title: 'Fig. 12: Kernbench (Linux kernel build) in a 512 MB guest',
    kind: 'lines',
    xLabel: MEMORY_AXIS,
    panels: [
      { paperFigure: 'Figure 12a', metric: 'runtimeS', divisor: 60, yLabel: 'runtime [min]' },
      {
        paperFigure: 'Figure 12b',
        metric: 'preventerRemaps',
        divisor: 1000,
        yLabel: 'preventer remaps [K]',
        paperSeries: { vswapper: 'vswapper' },
      },
    ],
    paperSeries: CONTROLLED_SERIES,
  },
  fig4: {
    id: 'fig4',
    title: 'Fig. 4: average completion time of 10 guests running Metis word count, started 10 s apart',
    kind: 'bars',
    xLabel: '',
    panels: [{ paperFigure: 'Figure 4', metric: 'runtimeS', divisor: 1, yLabel: 'average runtime [s]' }],
    paperSeries: PAPER_SERIES,
  },
  fig14: {
    id: 'fig14',
    title: 'Fig. 14: Metis word count, average guest runtime vs number of guests (2 GB guests, 8 GB host)',
    kind: 'lines',
    xLabel: 'number of guests',
    panels: [{ paperFigure: 'Figure 14', metric: 'runtimeS', divisor: 1, yLabel: 'average runtime [s]' }],
    paperSeries: PAPER_SERIES,
  },
  fig13: {
    id: 'fig13',
    title: 'Fig. 13: Eclipse (DaCapo, 128 MB Java heap) in a 512 MB guest',
    kind: 'lines',
    xLabel: MEMORY_AXIS,
    panels: [{ paperFigure: 'Figure 13', metric: 'runtimeS', divisor: 1, yLabel: 'runtime [s]' }],
    paperSeries: CONTROLLED_SERIES,
  },
  fig15: {
    id: 'fig15',
    title: "Fig. 15: the guest's page cache and what the Mapper tracks during Eclipse",
    kind: 'lines',
    xLabel: 'time [s]',
    panels: [
      {
        paperFigure: 'Figure 15',
        paperMetric: 'memory size',
        metric: 'guestPageCachePages',
        divisor: PAGES_PER_MIB,
        yLabel: 'guest page cache [MB]',
        paperSeries: { vswapper: 'guest page cache' },
      },
      {
        paperFigure: 'Figure 15',
        paperMetric: 'memory size',
        metric: 'guestCleanPageCachePages',
        divisor: PAGES_PER_MIB,
        yLabel: 'page cache excluding dirty [MB]',
        paperSeries: { vswapper: 'guest page cache excluding dirty' },
      },
      {
        paperFigure: 'Figure 15',
        paperMetric: 'memory size',
        metric: 'mapperTrackedPages',
        divisor: PAGES_PER_MIB,
        yLabel: 'tracked by the Mapper [MB]',
        paperSeries: { vswapper: 'tracked by mapper' },
      },
    ],
    paperSeries: { vswapper: 'vswapper' },
  },
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
  'win-sysbench': {
    id: 'win-sysbench',
    title: '§5.4: Sysbench reading a 2 GB file in a Windows guest that believes 2 GB and has 1 GB',
    kind: 'bars',
    xLabel: '',
    panels: [
      {
        paperFigure: 'Sec. 5.4 (text)',
        paperWorkload: 'Windows Server 2012 guest: Sysbench reading a 2GB file',
        metric: 'runtimeS',
        divisor: 1,
        yLabel: 'runtime [s]',
      },
    ],
    paperSeries: { baseline: 'baseline (without VSwapper)', vswapper: 'vswapper' },
  },
  'win-bzip2': {
    id: 'win-bzip2',
    title: '§5.4: bzip2 in the same Windows guest (believes 2 GB) with 512 MB',
    kind: 'bars',
    xLabel: '',
    panels: [
      {
        paperFigure: 'Sec. 5.4 (text)',
        paperWorkload: 'Windows Server 2012 guest: bzip2',
        metric: 'runtimeS',
        divisor: 1,
        yLabel: 'runtime [s]',
      },
    ],
    paperSeries: { baseline: 'baseline (without VSwapper)', vswapper: 'vswapper' },
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
      // Baseline ~40 s against balloon ~3 s: on a linear axis four configurations share one band.
      {
        paperFigure: 'Figure 9a',
        metric: 'runtimeS',
        divisor: 1,
        yLabel: 'runtime [s], log scale',
        yLog: true,
      },
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
