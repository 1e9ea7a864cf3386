/** One-line progress for long work: redrawn in place on a TTY, one line per update otherwise. */
export class ProgressLine {
  private last = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** Minimum ms between non-TTY lines, so logs stay readable. */
    private readonly logEveryMs = 10_000,
  ) {}

  update(text: string, force = false): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = Date.now();
    if (force || now - this.last >= this.logEveryMs) {
      this.last = now;
      this.stream.write(`${text}\n`);
    }
  }

  /** Ends the current line and prints `text` on its own line. */
  log(text: string): void {
    if (this.stream.isTTY) this.stream.write('\r\x1b[2K');
    this.stream.write(`${text}\n`);
  }
}

export function bar(fraction: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

export function duration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}
