/**
 * Progress on stderr for anything that takes longer than a second: a live line on a terminal,
 * a plain line per finished step otherwise (CI logs).
 */
export class Progress {
  private readonly t0 = Date.now();
  private lastLine = '';
  private etaS: number | undefined;
  private shown = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly title: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    // Stay quiet for the first second: short commands print nothing extra.
    this.timer = setInterval(() => this.render(), 250);
    this.timer.unref();
  }

  update(line: string, finishedStep = false, etaS?: number): void {
    this.lastLine = line;
    if (etaS !== undefined) this.etaS = etaS;
    if (!this.stream.isTTY && finishedStep && Date.now() - this.t0 > 1000)
      this.stream.write(`${this.title}: ${line}${this.eta()}\n`);
  }

  private eta(): string {
    return this.etaS === undefined ? '' : `; ETA ${formatDuration(this.etaS)}`;
  }

  private render(): void {
    if (!this.stream.isTTY || Date.now() - this.t0 < 1000) return;
    this.shown = true;
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1);
    this.stream.write(`\r\x1b[2K${this.title} [${secs}s] ${this.lastLine}${this.eta()}`);
  }

  done(summary: string): void {
    clearInterval(this.timer);
    if (this.shown) this.stream.write('\r\x1b[2K');
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1);
    this.stream.write(`${this.title}: ${summary} in ${secs}s\n`);
  }
}

/** "45s", "3m05s", "1h02m". */
export function formatDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}
