import { Readable } from 'node:stream';
import { getMetricsFromStream, PromData, PromHistogramData, PromMetrics } from 'prom2javascript';

/**
 * A `/metrics` answer read the way a scraper reads it: through a Prometheus text-format parser
 * (prom2javascript), never by matching lines of text.
 */
export class Scrape {
  private constructor(
    readonly families: PromMetrics,
    /** the raw text, for "never appears" checks */
    readonly text: string,
  ) {}

  static async parse(text: string): Promise<Scrape> {
    return new Scrape(await getMetricsFromStream(Readable.from([text])), text);
  }

  has(name: string): boolean {
    return this.families[name] !== undefined;
  }

  typeOf(name: string): string | undefined {
    return this.families[name]?.type;
  }

  /** The samples of a counter or gauge whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): PromData[] {
    const family = this.families[name];
    if (!family) return [];
    return (family.data as PromData[]).filter((sample) => Object.entries(labels).every(([label, value]) => sample.labels[label] === value));
  }

  /** The value of the one counter or gauge sample with exactly `labels`; 0 when it has none yet. */
  value(name: string, labels: Record<string, string> = {}): number {
    const matching = this.samples(name, labels).filter((sample) => Object.keys(sample.labels).length === Object.keys(labels).length);
    if (matching.length > 1) throw new Error(`${name}: ${matching.length} samples match ${JSON.stringify(labels)}`);
    return matching[0]?.value ?? 0;
  }

  /** The series of a histogram with exactly `labels`, or undefined. */
  histogram(name: string, labels: Record<string, string> = {}): PromHistogramData | undefined {
    const family = this.families[name];
    if (!family || family.type !== 'histogram') return undefined;
    return (family.data as PromHistogramData[]).find(
      (series) => Object.keys(series.labels).length === Object.keys(labels).length && Object.entries(labels).every(([label, value]) => series.labels[label] === value),
    );
  }

  /** Every label name and value of every series, to check that none carries an id, a name or a secret. */
  labelValues(): string[] {
    return Object.values(this.families).flatMap((family) => (family.data as Array<{ labels: Record<string, string> }>).flatMap((series) => Object.entries(series.labels).flat()));
  }
}
