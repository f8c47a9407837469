import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for OpenRouter: a real HTTP server on 127.0.0.1 that records every request and
 * answers `GET /key` and `POST /chat/completions` as programmed. It serves under `/api/v1`, like
 * the real base URL, so code that builds upstream URLs the wrong way fails against it.
 *
 *   const fake = new FakeOpenRouter();
 *   const baseUrl = await fake.start();          // http://127.0.0.1:<port>/api/v1
 *   fake.keyInfo({ status: 401 }, { key: badKey });
 *   fake.chatCompletion({ usage: { cost: 0.002 } });
 *   fake.chatCompletion({ status: 402 }, { times: 1 });
 *   …
 *   fake.requestsTo('POST', '/chat/completions')[0].bearer
 *
 * Which programmed answer a request gets: one-shot answers (`times`) first, queued in the order
 * they were given; then standing answers, the most recent first. Within each, answers for one
 * key (or with a `when`) go before answers for any request. Unprogrammed requests get defaults.
 */

export const BASE_PATH = '/api/v1';

export interface RecordedRequest {
  method: string;
  /** the path below the base URL, e.g. `/key`; the full path when outside it */
  path: string;
  /** the query string without `?`; empty when none */
  search: string;
  headers: IncomingHttpHeaders;
  /** the Authorization header as sent */
  authorization?: string;
  /** the token of a `Bearer <token>` Authorization header */
  bearer?: string;
  /** the body parsed as JSON, else its text; undefined when empty */
  body: unknown;
  rawBody: string;
  receivedAt: number;
  /** true once the client went away before the answer was complete */
  aborted: boolean;
  /** chat completions: every piece of the answer body as written to the socket, in order */
  sent: Buffer[];
}

export interface UsageObject {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** USD; anything may be programmed, to test how implausible costs are handled */
  cost: unknown;
  is_byok: boolean;
  cost_details: { upstream_inference_cost: unknown } | null;
}

export const DEFAULT_USAGE: UsageObject = {
  prompt_tokens: 12,
  completion_tokens: 34,
  total_tokens: 46,
  cost: 0.000123,
  is_byok: false,
  cost_details: { upstream_inference_cost: null },
};

export interface KeyInfo {
  label: string;
  /** USD, or null for no limit */
  limit: number | null;
  limit_remaining: number | null;
  usage: number;
  is_free_tier: boolean;
}

export const DEFAULT_KEY_INFO: KeyInfo = { label: 'x', limit: null, limit_remaining: null, usage: 0, is_free_tier: false };

/** How to answer a request; everything is optional. */
interface CommonAnswer {
  /** HTTP status; 200 unless set */
  status?: number;
  /** the whole JSON body, replacing the generated one (also for error statuses) */
  body?: unknown;
  /** the message of the generated OpenRouter-style error body `{ error: { code, message } }` */
  errorMessage?: string;
  /** extra response headers (e.g. retry-after, x-ratelimit-*) */
  headers?: Record<string, string>;
  /** wait this long before answering anything */
  delayMs?: number;
  /** close the connection without answering */
  drop?: boolean;
}

export interface KeyInfoAnswer extends CommonAnswer {
  /** fields of `data` for a 200, merged over DEFAULT_KEY_INFO */
  data?: Partial<KeyInfo>;
}

export interface ChatCompletionAnswer extends CommonAnswer {
  /** the assistant's text; default `Hello from the fake.` */
  content?: string;
  /** default: the model the request asked for */
  model?: string;
  /** leave `model` out of the answer (some providers' stream chunks carry none) */
  omitModel?: boolean;
  /** merged over DEFAULT_USAGE; null: the answer carries no usage at all */
  usage?: Partial<UsageObject> | null;
  /** stream or not whatever the request asked (default: the request's `stream` flag) */
  stream?: boolean;
  /** streaming: the content pieces, one SSE event each (default: the content split after each word) */
  chunks?: string[];
  /** streaming: wait this long before each event (a slow stream) */
  chunkDelayMs?: number;
  /** streaming: send `: OPENROUTER PROCESSING` comments first, as OpenRouter does while it waits */
  processingComments?: number;
  /** streaming: cut the connection after this many content events (at most all of them), before the usage and [DONE] */
  dropAfterChunks?: number;
  /** streaming: leave out the final `data: [DONE]` */
  omitDone?: boolean;
  /** streaming: after this many events (comments included), wait for `release` before the rest */
  holdAfterEvents?: number;
  release?: Promise<unknown>;
  /** streaming: write each event in pieces of at most this many bytes (splitting UTF-8 sequences too) */
  splitWrites?: number;
}

export interface EmbeddingsAnswer extends CommonAnswer {
  /** default: the model the request asked for */
  model?: string;
  /** merged over DEFAULT_EMBEDDINGS_USAGE; null: the answer carries no usage at all */
  usage?: Partial<EmbeddingsUsage> | null;
}

/** OpenRouter's embeddings usage: no completion tokens. */
export interface EmbeddingsUsage {
  prompt_tokens: number;
  total_tokens: number;
  cost: unknown;
}

export const DEFAULT_EMBEDDINGS_USAGE: EmbeddingsUsage = { prompt_tokens: 8, total_tokens: 8, cost: 0.00000016 };

export interface MatchOptions {
  /** only for requests made with this key (the Bearer token) */
  key?: string;
  /** only this many times, then the rule is spent */
  times?: number;
  /** any other condition on the request */
  when?(request: RecordedRequest): boolean;
}

interface Rule<A> {
  answer: A;
  options: MatchOptions;
  remaining: number;
}

const ERROR_MESSAGES: Record<number, string> = {
  400: 'Bad Request',
  401: 'User not found.',
  402: 'Insufficient credits. Add more using https://openrouter.ai/credits',
  403: 'Key limit exceeded (total limit). Manage it using https://openrouter.ai/settings/keys',
  404: 'Not Found',
  408: 'Request Timeout',
  429: 'Rate limit exceeded',
  500: 'Internal Server Error',
  502: 'Provider returned error',
  503: 'Service Unavailable',
};

/** OpenRouter's error body. */
export function errorBody(status: number, message = ERROR_MESSAGES[status] ?? 'Error'): { error: { code: number; message: string } } {
  return { error: { code: status, message } };
}

export class FakeOpenRouter {
  /** every request received, in order */
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private url?: string;
  private keyRules: Array<Rule<KeyInfoAnswer>> = [];
  private chatRules: Array<Rule<ChatCompletionAnswer>> = [];
  private embeddingsRules: Array<Rule<EmbeddingsAnswer>> = [];
  /** pending delays, so stop() can end them at once */
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();

  /** Listens on 127.0.0.1 (a free port unless given) and returns the base URL, `…/api/v1`. */
  async start(port = 0): Promise<string> {
    if (this.server) throw new Error('FakeOpenRouter already started');
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolveListen());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE_PATH}`;
    return this.url;
  }

  /** The base URL; still known after stop(), which makes it a URL where nothing answers. */
  get baseUrl(): string {
    if (!this.url) throw new Error('FakeOpenRouter not started');
    return this.url;
  }

  /** Stops listening and cuts every open connection, including streams in progress. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    server.closeAllConnections();
    // Answers waiting on a delay wake up to find their connection gone, and give up.
    for (const [timer, wake] of this.sleeps) {
      clearTimeout(timer);
      wake();
    }
    this.sleeps.clear();
    await closed;
  }

  /** Forgets recorded requests and every programmed answer. */
  reset(): void {
    this.requests.length = 0;
    this.keyRules = [];
    this.chatRules = [];
    this.embeddingsRules = [];
  }

  /** Programs `GET /key`. */
  keyInfo(answer: KeyInfoAnswer, options: MatchOptions = {}): this {
    this.keyRules.push({ answer, options, remaining: options.times ?? Infinity });
    return this;
  }

  /** Programs `POST /chat/completions`. */
  chatCompletion(answer: ChatCompletionAnswer, options: MatchOptions = {}): this {
    this.chatRules.push({ answer, options, remaining: options.times ?? Infinity });
    return this;
  }

  /** Programs `POST /embeddings`. */
  embeddings(answer: EmbeddingsAnswer, options: MatchOptions = {}): this {
    this.embeddingsRules.push({ answer, options, remaining: options.times ?? Infinity });
    return this;
  }

  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((request) => request.method === method && request.path === path);
  }

  get lastRequest(): RecordedRequest | undefined {
    return this.requests[this.requests.length - 1];
  }

  /** Resolves once `count` requests have arrived in all (e.g. for calls made in the background). */
  async waitForRequests(count: number, timeoutMs = 5_000): Promise<RecordedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > deadline) throw new Error(`FakeOpenRouter: expected ${count} requests, got ${this.requests.length}`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 10));
    }
    return this.requests.slice(0, count);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const recorded = await this.record(request);
    response.on('close', () => {
      if (!response.writableFinished) recorded.aborted = true;
    });
    try {
      if (recorded.method === 'GET' && recorded.path === '/key') return await this.answerKeyInfo(recorded, response);
      if (recorded.method === 'POST' && recorded.path === '/chat/completions') return await this.answerChat(recorded, response);
      if (recorded.method === 'POST' && recorded.path === '/embeddings') return await this.answerEmbeddings(recorded, response);
      this.sendJson(response, 404, {}, errorBody(404));
    } catch {
      // A client that went away mid-answer, or a stop(): nothing left to tell anyone.
      response.destroy();
    }
  }

  private async record(request: IncomingMessage): Promise<RecordedRequest> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://fake');
    const authorization = request.headers.authorization;
    const recorded: RecordedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname.startsWith(`${BASE_PATH}/`) ? url.pathname.slice(BASE_PATH.length) : url.pathname,
      search: url.search.replace(/^\?/, ''),
      headers: request.headers,
      authorization,
      bearer: /^Bearer (.+)$/.exec(authorization ?? '')?.[1],
      body: parseBody(rawBody),
      rawBody,
      receivedAt: Date.now(),
      aborted: false,
      sent: [],
    };
    this.requests.push(recorded);
    return recorded;
  }

  private take<A>(rules: Array<Rule<A>>, request: RecordedRequest): A | undefined {
    const matching = rules.filter(
      ({ options, remaining }) =>
        remaining > 0 && (options.key === undefined || options.key === request.bearer) && (options.when?.(request) ?? true),
    );
    const specific = (rule: Rule<A>) => rule.options.key !== undefined || rule.options.when !== undefined;
    const oneShots = matching.filter((rule) => rule.remaining !== Infinity);
    const standing = matching.filter((rule) => rule.remaining === Infinity).reverse();
    const rule = oneShots.find(specific) ?? oneShots[0] ?? standing.find(specific) ?? standing[0];
    if (!rule) return undefined;
    rule.remaining -= 1;
    return rule.answer;
  }

  private async answerKeyInfo(request: RecordedRequest, response: ServerResponse): Promise<void> {
    // Like OpenRouter, a request without a key is refused unless a rule says otherwise.
    const answer = this.take(this.keyRules, request) ?? (request.bearer ? {} : { status: 401 });
    if (!(await this.before(answer, response))) return;
    const status = answer.status ?? 200;
    const body = answer.body ?? (status === 200 ? { data: { ...DEFAULT_KEY_INFO, ...answer.data } } : errorBody(status, answer.errorMessage));
    this.sendJson(response, status, answer.headers, body);
  }

  private async answerChat(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const answer = this.take(this.chatRules, request) ?? {};
    if (!(await this.before(answer, response))) return;
    const status = answer.status ?? 200;
    if (status !== 200) return this.sendJson(response, status, answer.headers, answer.body ?? errorBody(status, answer.errorMessage), request);
    const asked = (request.body ?? {}) as { model?: unknown; stream?: unknown };
    const model = answer.model ?? (typeof asked.model === 'string' ? asked.model : 'openai/gpt-4o-mini');
    const content = answer.content ?? 'Hello from the fake.';
    const usage = answer.usage === null ? undefined : { ...DEFAULT_USAGE, ...answer.usage };
    const envelope = { id: `gen-fake-${this.requests.length}`, provider: 'Fake', ...(answer.omitModel ? {} : { model }), created: Math.floor(Date.now() / 1000) };
    if (!(answer.stream ?? asked.stream === true)) {
      const body = answer.body ?? {
        ...envelope,
        object: 'chat.completion',
        choices: [{ index: 0, logprobs: null, finish_reason: 'stop', native_finish_reason: 'stop', message: { role: 'assistant', content, refusal: null } }],
        ...(usage ? { usage } : {}),
      };
      return this.sendJson(response, 200, answer.headers, body, request);
    }
    await this.stream(response, answer, envelope, content, usage, request);
  }

  private async answerEmbeddings(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const answer = this.take(this.embeddingsRules, request) ?? {};
    if (!(await this.before(answer, response))) return;
    const status = answer.status ?? 200;
    if (status !== 200) return this.sendJson(response, status, answer.headers, answer.body ?? errorBody(status, answer.errorMessage), request);
    const asked = (request.body ?? {}) as { model?: unknown; input?: unknown };
    const inputs = Array.isArray(asked.input) ? asked.input : [asked.input];
    const usage = answer.usage === null ? undefined : { ...DEFAULT_EMBEDDINGS_USAGE, ...answer.usage };
    const body = answer.body ?? {
      id: `gen-emb-fake-${this.requests.length}`,
      object: 'list',
      model: answer.model ?? (typeof asked.model === 'string' ? asked.model : 'openai/text-embedding-3-small'),
      data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.125, -0.25, 0.5] })),
      ...(usage ? { usage } : {}),
    };
    this.sendJson(response, 200, answer.headers, body, request);
  }

  private async stream(
    response: ServerResponse,
    answer: ChatCompletionAnswer,
    envelope: Record<string, unknown>,
    content: string,
    usage: UsageObject | undefined,
    request: RecordedRequest,
  ): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...answer.headers });
    response.flushHeaders();
    let events = 0;
    let flushed: Promise<void> = Promise.resolve();
    const send = async (event: string) => {
      if (answer.holdAfterEvents !== undefined && events === answer.holdAfterEvents) await answer.release;
      events += 1;
      if (answer.chunkDelayMs) await this.sleep(answer.chunkDelayMs);
      if (response.destroyed) throw new Error('client gone');
      const bytes = Buffer.from(event, 'utf8');
      const size = answer.splitWrites ?? bytes.length;
      for (let offset = 0; offset < bytes.length; offset += size) {
        const piece = bytes.subarray(offset, offset + size);
        request.sent.push(piece);
        flushed = new Promise<void>((resolveFlush) => response.write(piece, () => resolveFlush()));
        if (answer.splitWrites) await new Promise((resolveTick) => setImmediate(resolveTick));
      }
    };
    const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
      data({ ...envelope, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finishReason, native_finish_reason: finishReason, logprobs: null }] });

    for (let i = 0; i < (answer.processingComments ?? 0); i++) await send(': OPENROUTER PROCESSING\n\n');
    const pieces = answer.chunks ?? content.split(/(?<= )/);
    for (const piece of pieces.slice(0, answer.dropAfterChunks)) await send(chunk({ role: 'assistant', content: piece }, null));
    if (answer.dropAfterChunks !== undefined) {
      // Cut after the events sent so far have reached the socket, not before.
      await flushed;
      response.destroy();
      return;
    }
    await send(chunk({ role: 'assistant', content: '' }, 'stop'));
    if (usage) await send(data({ ...envelope, object: 'chat.completion.chunk', choices: [], usage }));
    if (!answer.omitDone) await send('data: [DONE]\n\n');
    response.end();
  }

  /** The delay and drop every answer may have; false when nothing more should be sent. */
  private async before(answer: CommonAnswer, response: ServerResponse): Promise<boolean> {
    if (answer.delayMs) await this.sleep(answer.delayMs);
    if (answer.drop) {
      response.socket?.destroy();
      return false;
    }
    return !response.destroyed;
  }

  private sendJson(response: ServerResponse, status: number, headers: Record<string, string> | undefined, body: unknown, request?: RecordedRequest): void {
    if (response.destroyed) return;
    const text = Buffer.from(JSON.stringify(body), 'utf8');
    request?.sent.push(text);
    response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolveSleep) => {
      const timer = setTimeout(() => {
        this.sleeps.delete(timer);
        resolveSleep();
      }, ms);
      this.sleeps.set(timer, resolveSleep);
    });
  }
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
