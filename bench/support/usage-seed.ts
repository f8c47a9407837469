import { createHash, randomInt } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { timeOrderedId } from '../../src/db/ids';
import { billedMicros, tierPriceMicros } from '../../src/modules/billing/billing-calculator';
import { ROLLUP_SHARDS } from '../../src/modules/usage/usage-rollup.repository';
import { KeySource } from '../../src/modules/usage/usage.enums';

/**
 * Bulk-loads a month of calls for one workspace straight into usage_record and usage_rollup with
 * multi-row INSERTs (the API would take hours for a million calls), billed by the service's own
 * calculator at the published prices and rolled up exactly as the recorder does (a random shard
 * per call), so records, rollups and summaries agree.
 *
 * The mix is what one busy workspace produces: every path; two models per path, each model in one
 * tier; user-initiated paths on the workspace's key (BYOK) and background paths on the platform
 * key; twenty users as actors; calls spread evenly over the month.
 */

const PUBLISHED = {
  FRONTIER: { inputMicrosPerMillionTokens: 15_000_000, outputMicrosPerMillionTokens: 75_000_000 },
  BALANCED: { inputMicrosPerMillionTokens: 3_000_000, outputMicrosPerMillionTokens: 15_000_000 },
  COST_EFFECTIVE: { inputMicrosPerMillionTokens: 250_000, outputMicrosPerMillionTokens: 1_250_000 },
} as const;
type Tier = keyof typeof PUBLISHED;

const MODELS: Array<{ model: string; tier: Tier }> = [
  { model: 'anthropic/claude-opus-4', tier: 'FRONTIER' },
  { model: 'openai/gpt-5', tier: 'FRONTIER' },
  { model: 'anthropic/claude-sonnet-4', tier: 'BALANCED' },
  { model: 'openai/gpt-4o', tier: 'BALANCED' },
  { model: 'google/gemini-2.5-flash', tier: 'COST_EFFECTIVE' },
  { model: 'openai/gpt-4o-mini', tier: 'COST_EFFECTIVE' },
];
const USER_PATHS = ['AGENT_RUN', 'THREAD_REPLY_CLASSIFICATION', 'DOCUMENT_OCR', 'TRANSCRIPTION', 'CANVAS_AUTOCOMPLETE', 'MESSAGE_TRANSLATION', 'SEMANTIC_SEARCH', 'SEARCH_RERANKER'];
const BACKGROUND_PATHS = ['SEARCH_INDEXER', 'ATTACHMENT_TEXT_EXTRACTION', 'MENTION_EMBEDDING_CACHE'];
const PATHS = [...USER_PATHS, ...BACKGROUND_PATHS];

const RECORD_COLUMNS = [
  'id',
  'workspace_id',
  'request_id',
  'path',
  'model',
  'tier',
  'key_source',
  'input_tokens',
  'output_tokens',
  'raw_cost_micros',
  'tier_price_micros',
  'billed_micros',
  'occurred_at',
  'recorded_at',
  'actor_user_id',
  'flagged',
  'settled_at',
  'payload_hash',
];
const ROLLUP_COLUMNS = [
  'workspace_id',
  'day',
  'tier',
  'key_source',
  'path',
  'model',
  'shard',
  'calls',
  'input_tokens',
  'output_tokens',
  'tier_price_micros',
  'raw_cost_micros',
  'billed_micros',
  'flagged_calls',
];
/** 1,000 rows × 18 columns stays under SQLite's 32,766 bound parameters */
const BATCH_ROWS = 1_000;

export interface SeededMonth {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  tierPriceMicros: number;
  byokRawCostMicros: number;
  totalBilledMicros: number;
  rollupRows: number;
  /** user ids that appear as actors, for the caller to make members */
  actors: string[];
}

/** A deterministic generator (mulberry32), so two runs seed the same data. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** What both drivers store for DATETIME(3): UTC, 'YYYY-MM-DD HH:MM:SS.mmm'. */
function sqlTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

async function insertRows(dataSource: DataSource, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  if (rows.length === 0) return;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  await dataSource.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}`, rows.flat());
}

export async function seedUsageMonth(
  dataSource: DataSource,
  spec: { workspaceId: string; month: string; calls: number; seed: number },
  log: (message: string) => void,
): Promise<SeededMonth> {
  const random = seededRandom(spec.seed);
  const [year, monthIndex] = spec.month.split('-').map(Number);
  const start = Date.UTC(year, monthIndex - 1, 1);
  const span = Date.UTC(year, monthIndex, 1) - start;
  const actors = Array.from({ length: 20 }, (_, i) => `bench-user-${i}`);
  const totals: SeededMonth = { calls: 0, inputTokens: 0, outputTokens: 0, tierPriceMicros: 0, byokRawCostMicros: 0, totalBilledMicros: 0, rollupRows: 0, actors };
  const rollups = new Map<string, unknown[]>();
  const started = Date.now();
  let batch: unknown[][] = [];

  for (let i = 0; i < spec.calls; i++) {
    // evenly spread and ascending, so ids and the time index grow at their ends as in real life
    const at = start + Math.floor(((i + random()) * span) / spec.calls);
    const pathIndex = Math.floor(random() * PATHS.length);
    const path = PATHS[pathIndex];
    const { model, tier } = MODELS[(pathIndex + (random() < 0.5 ? 0 : 2)) % MODELS.length];
    const keySource = pathIndex < USER_PATHS.length ? KeySource.BYOK : KeySource.PLATFORM;
    const inputTokens = 100 + Math.floor(random() * 20_000);
    const outputTokens = 10 + Math.floor(random() * 2_000);
    const tierPrice = tierPriceMicros(inputTokens, outputTokens, PUBLISHED[tier]);
    const rawCost = Math.floor(tierPrice * (0.4 + random() * 0.5));
    const billed = billedMicros(keySource, tierPrice, rawCost);
    const requestId = `seed-${spec.seed}-${i}`;
    batch.push([
      timeOrderedId(at),
      spec.workspaceId,
      requestId,
      path,
      model,
      tier,
      keySource,
      inputTokens,
      outputTokens,
      rawCost,
      tierPrice,
      billed,
      sqlTime(at),
      sqlTime(at),
      keySource === KeySource.BYOK ? actors[Math.floor(random() * actors.length)] : null,
      0,
      null,
      createHash('sha256').update(requestId).digest('hex'),
    ]);
    const day = new Date(at).toISOString().slice(0, 10);
    const shard = randomInt(ROLLUP_SHARDS);
    const key = `${day}|${tier}|${keySource}|${path}|${model}|${shard}`;
    const rollup = rollups.get(key) ?? [spec.workspaceId, day, tier, keySource, path, model, shard, 0, 0, 0, 0, 0, 0, 0];
    const sums = [1, inputTokens, outputTokens, tierPrice, rawCost, billed, 0];
    for (let j = 0; j < sums.length; j++) rollup[7 + j] = (rollup[7 + j] as number) + sums[j];
    rollups.set(key, rollup);

    totals.calls += 1;
    totals.inputTokens += inputTokens;
    totals.outputTokens += outputTokens;
    totals.tierPriceMicros += tierPrice;
    if (keySource === KeySource.BYOK) totals.byokRawCostMicros += rawCost;
    totals.totalBilledMicros += billed;

    if (batch.length === BATCH_ROWS) {
      await insertRows(dataSource, 'usage_record', RECORD_COLUMNS, batch);
      batch = [];
      if ((i + 1) % 100_000 === 0) log(`seeded ${(i + 1).toLocaleString('en-US')} calls (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  await insertRows(dataSource, 'usage_record', RECORD_COLUMNS, batch);
  const rollupRows = [...rollups.values()];
  for (let i = 0; i < rollupRows.length; i += BATCH_ROWS) await insertRows(dataSource, 'usage_rollup', ROLLUP_COLUMNS, rollupRows.slice(i, i + BATCH_ROWS));
  totals.rollupRows = rollupRows.length;
  return totals;
}
