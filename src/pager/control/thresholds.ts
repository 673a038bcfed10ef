/**
 * The threshold event: `RESIDENT_THRESHOLD` when the resident pages cross a fraction of the
 * resident limit the client chose (`set-threshold`), once per crossing in each direction, so a
 * guest hovering at the line does not flood the socket with events. No threshold is set until a
 * client asks: which fraction matters is the operator's choice.
 */
export interface ThresholdCrossing {
  direction: 'above' | 'below';
  residentPages: number;
  limitPages: number;
  fraction: number;
}

export class ThresholdWatcher {
  private fraction: number | undefined;
  private above = false;

  set(fraction: number | undefined): void {
    this.fraction = fraction;
    this.above = false;
  }

  get current(): number | undefined {
    return this.fraction;
  }

  /** Called on each sample; returns the crossing, if this sample crossed. */
  update(residentPages: number, limitPages: number): ThresholdCrossing | undefined {
    const f = this.fraction;
    if (f === undefined || limitPages <= 0) return undefined;
    const nowAbove = residentPages >= f * limitPages;
    if (nowAbove === this.above) return undefined;
    this.above = nowAbove;
    return { direction: nowAbove ? 'above' : 'below', residentPages, limitPages, fraction: f };
  }
}
