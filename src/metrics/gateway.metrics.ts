import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { InferencePath, KeySource } from '../modules/usage/usage.enums';

/**
 * How a gateway call ended, from the caller's side. A fixed list, so the label stays bounded:
 * - `answered`: the upstream's answer was relayed (whatever its status);
 * - `refused`: the gateway answered on its own before any upstream call (bad request, token,
 *   workspace, request id, budget, concurrency, key unavailable, database unavailable);
 * - `upstream_unreachable` / `upstream_timeout`: 502 / 504, nothing billed;
 * - `key_rejected`: the workspace's key was refused upstream (invalid, out of credits, limit,
 *   no allowed provider) and no fallback answered;
 * - `interrupted`: the caller or the upstream broke off mid-answer.
 */
export const GATEWAY_CALL_OUTCOMES = ['answered', 'refused', 'upstream_unreachable', 'upstream_timeout', 'key_rejected', 'interrupted'] as const;
export type GatewayCallOutcome = (typeof GATEWAY_CALL_OUTCOMES)[number];

export interface FinishedGatewayCall {
  /** the X-Inference-Path the call named; anything that is not an InferencePath is counted as `INVALID` */
  path: string;
  /** the key the call went upstream with; `NONE` when it never went upstream */
  keySource: KeySource | 'NONE';
  outcome: GatewayCallOutcome;
  /** the gateway's own share of the caller's wait: total time minus the upstream's, when it went upstream */
  addedSeconds?: number;
  /** from sending the request upstream to the end of the upstream's answer */
  upstreamSeconds?: number;
}

/** Counts of the ledger's files, read when metrics are scraped. */
export interface LedgerFileCounts {
  /** spool files waiting for replay */
  spooled(): number | Promise<number>;
  /** files of calls kept aside for an operator (unrecordable, duplicates found at replay) */
  keptAside(): number | Promise<number>;
}

/** What the gateway and its usage journal report; `NO_GATEWAY_METRICS` when metrics are off. */
export interface GatewayMetrics {
  callFinished(call: FinishedGatewayCall): void;
  /** one group commit of the usage journal reached the disk, after `seconds` */
  journalSynced(seconds: number): void;
  /** feeds the spool and kept-aside gauges; the latest registration wins */
  watchLedgerFiles(counts: LedgerFileCounts): void;
}

export const NO_GATEWAY_METRICS: GatewayMetrics = {
  callFinished: () => undefined,
  journalSynced: () => undefined,
  watchLedgerFiles: () => undefined,
};

const PATHS: ReadonlySet<string> = new Set(Object.values(InferencePath));
const OUTCOMES: ReadonlySet<string> = new Set(GATEWAY_CALL_OUTCOMES);
const KEY_SOURCES: ReadonlySet<string> = new Set([...Object.values(KeySource), 'NONE']);

/** The gateway's own latency is small: MEASURED.md has 3–7 ms p50 under load. */
const ADDED_LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Model answers take from tens of milliseconds to OPENROUTER_TIMEOUT_MS (at most 600 s). */
const UPSTREAM_LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const JOURNAL_SYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** The gateway's and the usage ledger's series, in `registry`. */
export class PrometheusGatewayMetrics implements GatewayMetrics {
  private readonly calls: Counter<'path' | 'key_source' | 'outcome'>;
  private readonly added: Histogram;
  private readonly upstream: Histogram;
  private readonly journalSync: Histogram;
  private files?: LedgerFileCounts;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({ name: 'gateway_calls_total', help: 'Gateway calls by inference path, key source and outcome.', labelNames: ['path', 'key_source', 'outcome'], registers });
    this.added = new Histogram({ name: 'gateway_added_latency_seconds', help: "The gateway's own share of a call's latency: total time minus the upstream's.", buckets: ADDED_LATENCY_BUCKETS, registers });
    this.upstream = new Histogram({ name: 'gateway_upstream_latency_seconds', help: "The upstream's latency, from the request sent to the end of its answer.", buckets: UPSTREAM_LATENCY_BUCKETS, registers });
    this.journalSync = new Histogram({ name: 'usage_journal_sync_seconds', help: 'Duration of one group commit (a durable write) of the usage journal.', buckets: JOURNAL_SYNC_BUCKETS, registers });
  }

  callFinished(call: FinishedGatewayCall): void {
    this.calls.inc({
      path: PATHS.has(call.path) ? call.path : 'INVALID',
      key_source: KEY_SOURCES.has(call.keySource) ? call.keySource : 'NONE',
      outcome: OUTCOMES.has(call.outcome) ? call.outcome : 'refused',
    });
    if (call.addedSeconds !== undefined && call.addedSeconds >= 0) this.added.observe(call.addedSeconds);
    if (call.upstreamSeconds !== undefined && call.upstreamSeconds >= 0) this.upstream.observe(call.upstreamSeconds);
  }

  journalSynced(seconds: number): void {
    if (seconds >= 0) this.journalSync.observe(seconds);
  }

  watchLedgerFiles(counts: LedgerFileCounts): void {
    const first = this.files === undefined;
    this.files = counts;
    if (!first) return;
    // Registered only now: a service whose ledger reports nothing shows no series, not a made-up 0.
    const current = () => this.files ?? counts;
    const registers = [this.registry];
    new Gauge({
      name: 'usage_spooled_files',
      help: 'Usage spool files waiting for replay into the database.',
      registers,
      async collect() {
        this.set(await current().spooled());
      },
    });
    new Gauge({
      name: 'usage_kept_aside_files',
      help: 'Files of calls kept aside for an operator (not recordable as they are).',
      registers,
      async collect() {
        this.set(await current().keptAside());
      },
    });
  }
}
