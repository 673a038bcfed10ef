/**
 * Progress on stderr for anything that takes longer than a second: a live line on a terminal,
 * a plain line per finished step otherwise (CI logs).
 */
export class Progress {
  private readonly t0 = Date.now();
  private lastLine = '';
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

  update(line: string, finishedStep = false): void {
    this.lastLine = line;
    if (!this.stream.isTTY && finishedStep && Date.now() - this.t0 > 1000)
      this.stream.write(`${this.title}: ${line}\n`);
  }

  private render(): void {
    if (!this.stream.isTTY || Date.now() - this.t0 < 1000) return;
    this.shown = true;
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1);
    this.stream.write(`\r\x1b[2K${this.title} [${secs}s] ${this.lastLine}`);
  }

  done(summary: string): void {
    clearInterval(this.timer);
    if (this.shown) this.stream.write('\r\x1b[2K');
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1);
    this.stream.write(`${this.title}: ${summary} in ${secs}s\n`);
  }
}
