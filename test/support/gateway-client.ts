import { ClientRequest, request as httpRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TestApp } from './test-app';
import { TEST_SERVICE_TOKEN } from './test-app';

/**
 * Calls the inference gateway (POST /v1/chat/completions) over real HTTP with node:http, so the
 * specs see status, headers and body exactly as a client would, chunk by chunk when streaming.
 */

export const GATEWAY_PATH = '/v1/chat/completions';

export interface GatewayRequest {
  workspaceId?: string;
  path?: string;
  tier?: string;
  requestId?: string;
  actorUserId?: string;
  /** null: no Authorization header; undefined: the service token */
  token?: string | null;
  /** the JSON body; a string is sent as is */
  body?: unknown;
  /** extra or overriding headers */
  headers?: Record<string, string>;
}

export interface GatewayAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** the body parsed as JSON, when it is JSON */
  json?: any;
  /** the body as it arrived, one Buffer per 'data' event */
  chunks: Buffer[];
}

export const CHAT_BODY = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] };

function headersOf(call: GatewayRequest): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = call.token === undefined ? TEST_SERVICE_TOKEN : call.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (call.workspaceId !== undefined) headers['x-workspace-id'] = call.workspaceId;
  headers['x-inference-path'] = call.path ?? 'AGENT_RUN';
  if (call.tier !== undefined) headers['x-model-tier'] = call.tier;
  if (call.requestId !== undefined) headers['x-request-id'] = call.requestId;
  if (call.actorUserId !== undefined) headers['x-actor-user-id'] = call.actorUserId;
  return { ...headers, ...call.headers };
}

function bodyOf(call: GatewayRequest): string {
  if (typeof call.body === 'string') return call.body;
  return JSON.stringify(call.body ?? CHAT_BODY);
}

/** Sends a call without waiting for anything; `abort()` hangs up whenever the test likes. */
export function sendGateway(t: Pick<TestApp, 'url'>, call: GatewayRequest): { response: Promise<IncomingMessage>; abort(): void } {
  const url = new URL(GATEWAY_PATH, t.url);
  const payload = bodyOf(call);
  let req!: ClientRequest;
  const response = new Promise<IncomingMessage>((resolveOpen, reject) => {
    req = httpRequest(
      url,
      { method: 'POST', headers: { ...headersOf(call), 'content-length': String(Buffer.byteLength(payload)) }, agent: false },
      resolveOpen,
    );
    req.on('error', reject);
    req.end(payload);
  });
  return { response, abort: () => req.destroy() };
}

/** Starts a call and hands back the response as soon as its headers arrive. */
export async function openGateway(t: Pick<TestApp, 'url'>, call: GatewayRequest): Promise<{ response: IncomingMessage; abort(): void }> {
  const sent = sendGateway(t, call);
  return { response: await sent.response, abort: sent.abort };
}

/** Reads a response to its end. */
export function readAnswer(response: IncomingMessage): Promise<GatewayAnswer> {
  return new Promise((resolveRead, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', reject);
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolveRead({ status: response.statusCode ?? 0, headers: response.headers, text, json, chunks });
    });
  });
}

/** One whole gateway call. */
export async function callGateway(t: Pick<TestApp, 'url'>, call: GatewayRequest): Promise<GatewayAnswer> {
  const { response } = await openGateway(t, call);
  return readAnswer(response);
}

/** Polls `probe` until it returns something other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

export interface StoredRecord {
  id: string;
  requestId: string;
  workspaceId: string;
  path: string;
  model: string;
  tier: string;
  keySource: string;
  inputTokens: number;
  outputTokens: number;
  rawCostMicros: number | null;
  tierPriceMicros: number;
  billedMicros: number;
  actorUserId: string | null;
  flagged: boolean;
}

/**
 * The workspace's usage records straight from the table, oldest first. The gateway answers before
 * it records, so this first waits for the recordings under way, as the service's own reads do.
 */
export async function storedRecords(t: TestApp, workspaceId: string): Promise<StoredRecord[]> {
  await t.app.seam.usageRecorder.settled(workspaceId);
  const rows: Array<Record<string, unknown>> = await t.app.dataSource.query(
    `SELECT id, request_id, workspace_id, path, model, tier, key_source, input_tokens, output_tokens, raw_cost_micros,
            tier_price_micros, billed_micros, actor_user_id, flagged
       FROM usage_record WHERE workspace_id = ? ORDER BY id`,
    [workspaceId],
  );
  const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return rows.map((row) => ({
    id: String(row.id),
    requestId: String(row.request_id),
    workspaceId: String(row.workspace_id),
    path: String(row.path),
    model: String(row.model),
    tier: String(row.tier),
    keySource: String(row.key_source),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    rawCostMicros: num(row.raw_cost_micros),
    tierPriceMicros: Number(row.tier_price_micros),
    billedMicros: Number(row.billed_micros),
    actorUserId: row.actor_user_id === null ? null : String(row.actor_user_id),
    flagged: Number(row.flagged) !== 0,
  }));
}

/** The one record with `requestId`, waiting a little for it: recording may finish after the answer. */
export function recordFor(t: TestApp, workspaceId: string, requestId: string, timeoutMs = 5_000): Promise<StoredRecord> {
  return eventually(async () => (await storedRecords(t, workspaceId)).find((record) => record.requestId === requestId), timeoutMs, `record ${requestId}`);
}
