/**
 * A small Prometheus registry: counters, gauges and one histogram type, written in the text
 * exposition format (version 0.0.4) for `GET /metrics`. Kept in-house because the server needs
 * a handful of series and the hot path (every request) must stay a couple of map lookups.
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Metric {
  render(): string;
}

/** A monotonically increasing count, by label set. */
export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

/** A value read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Array<[Labels, number]> | number,
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const v = this.read();
    if (typeof v === 'number') lines.push(`${this.name} ${v}`);
    else for (const [labels, x] of v) lines.push(`${this.name}${labelKey(labels)} ${x}`);
    return lines.join('\n');
  }
}

/** Observations in cumulative buckets, by label set. */
export class Histogram implements Metric {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; n: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, n: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.n++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) =>
        lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(b) })} ${s.counts[i]}`),
      );
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.n}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.n}`);
    }
    return lines.join('\n');
  }
}

/** The server's metrics. */
export class ServerMetrics {
  private readonly all: Metric[] = [];
  readonly requests = this.add(
    new Counter(
      'localrec_http_requests_total',
      'HTTP requests answered, by route, method and status',
    ),
  );
  readonly duration = this.add(
    new Histogram(
      'localrec_http_request_duration_seconds',
      'Time to answer, by route',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
  );
  readonly updates = this.add(
    new Counter(
      'localrec_updates_total',
      'Federated update posts by outcome (accepted, replay, or the error code)',
    ),
  );
  readonly batches = this.add(
    new Counter('localrec_update_commits_total', 'SQLite transactions that counted updates'),
  );

  constructor() {
    const started = Date.now();
    this.add(
      new Gauge(
        'localrec_uptime_seconds',
        'Seconds since the server started',
        () => (Date.now() - started) / 1000,
      ),
    );
    this.add(
      new Gauge('process_resident_memory_bytes', 'Resident memory', () =>
        process.memoryUsage.rss(),
      ),
    );
  }

  add<M extends Metric>(m: M): M {
    this.all.push(m);
    return m;
  }

  render(): string {
    return `${this.all.map((m) => m.render()).join('\n')}\n`;
  }
}
