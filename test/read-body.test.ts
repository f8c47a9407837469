import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { isClientAbort } from '../src/http/client-abort';
import { BodyTooLargeError, readBody } from '../src/http/read-body';
import { holdConnection, statusOf } from './support/raw-http';

/**
 * readBody over a real node:http server and real sockets: bodies that come in pieces, bodies over
 * the limit (declared, or found out mid-stream), and clients that go away mid-body, including
 * before readBody listens.
 */

const LIMIT = 100;

interface Outcome {
  body?: Buffer;
  error?: Error & { code?: string };
  clientAbort?: boolean;
  /** at rejection: the request left paused with no 'data' listener, so nothing more is read */
  stoppedReading?: boolean;
}

const pause = (ms: number) => new Promise((resolveWait) => setTimeout(resolveWait, ms));

function head(length: number | 'chunked'): string {
  const framing = length === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`;
  return `POST / HTTP/1.1\r\nhost: x\r\n${framing}\r\n\r\n`;
}

function chunk(data: string): string {
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;
}

describe('readBody', () => {
  let server: Server;
  let base: URL;
  /** how long the handler waits before it calls readBody */
  let delayMs = 0;
  let outcomes: Array<(outcome: Outcome) => void> = [];
  let pending: Array<Promise<Outcome>> = [];

  async function handle(request: IncomingMessage): Promise<Outcome> {
    if (delayMs > 0) await pause(delayMs);
    try {
      return { body: await readBody(request, LIMIT) };
    } catch (error) {
      return {
        error: error as Outcome['error'],
        clientAbort: error instanceof BodyTooLargeError ? false : isClientAbort(error, request),
        stoppedReading: request.isPaused() && request.listenerCount('data') === 0,
      };
    }
  }

  /** The outcome of the next request the server takes. */
  function nextOutcome(): Promise<Outcome> {
    const outcome = new Promise<Outcome>((resolveOutcome) => outcomes.push(resolveOutcome));
    pending.push(outcome);
    return outcome;
  }

  beforeAll(async () => {
    server = createServer((request, response) => {
      const report = outcomes.shift();
      void handle(request).then((outcome) => {
        report?.(outcome);
        if (outcome.body) response.end(`read ${outcome.body.length}`);
        else if (outcome.error instanceof BodyTooLargeError) response.writeHead(413, { connection: 'close' }).end();
        else response.destroy();
      });
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterEach(async () => {
    await Promise.all(pending);
    outcomes = [];
    pending = [];
    delayMs = 0;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolveClose) => server.close(resolveClose));
  });

  it('reads a body a slow client sends in pieces, with a content-length and chunked', async () => {
    for (const framing of ['length', 'chunked'] as const) {
      const outcome = nextOutcome();
      const pieces = ['{"model":', '"m", "in', 'put": "é"}'];
      const text = pieces.join('');
      const held = await holdConnection(base, head(framing === 'length' ? Buffer.byteLength(text) : 'chunked'));
      for (const piece of pieces) {
        await pause(30);
        held.socket.write(framing === 'length' ? piece : chunk(piece));
      }
      if (framing === 'chunked') held.socket.write('0\r\n\r\n');
      expect((await outcome).body?.toString('utf8')).toBe(text);
      held.socket.destroy();
    }
  });

  it('reads an empty body, and one that arrived whole before it was called', async () => {
    let outcome = nextOutcome();
    let held = await holdConnection(base, head(0));
    expect((await outcome).body?.length).toBe(0);
    held.socket.destroy();
    delayMs = 100;
    outcome = nextOutcome();
    held = await holdConnection(base, head(LIMIT) + 'b'.repeat(LIMIT));
    expect((await outcome).body?.toString()).toBe('b'.repeat(LIMIT));
    held.socket.destroy();
  });

  it('refuses a declared content-length over the limit before a byte of the body is sent', async () => {
    const outcome = nextOutcome();
    const held = await holdConnection(base, head(LIMIT + 1));
    expect((await outcome).error).toBeInstanceOf(BodyTooLargeError);
    expect(statusOf(await held.closed)).toBe(413);
  });

  // Only a body without a declared length can pass the limit mid-stream: one declaring more is refused above.
  it('refuses a chunked body as soon as it passes the limit, stops reading, and the 413 still reaches the client', async () => {
    const outcome = nextOutcome();
    const held = await holdConnection(base, head('chunked'));
    held.socket.write(chunk('a'.repeat(LIMIT - 10)));
    await pause(30);
    held.socket.write(chunk('a'.repeat(10)));
    await pause(30);
    expect(held.answer()).toBe('');
    held.socket.write(chunk('a'));
    const refused = await outcome;
    expect(refused.error).toBeInstanceOf(BodyTooLargeError);
    expect(refused.stoppedReading).toBe(true);
    expect(statusOf(await held.closed)).toBe(413);
  });

  it('rejects with an error isClientAbort recognises when the client goes away mid-body', async () => {
    for (const leave of ['end', 'reset'] as const) {
      const outcome = nextOutcome();
      const held = await holdConnection(base, head(LIMIT) + 'x'.repeat(10));
      await pause(30);
      if (leave === 'reset') held.socket.resetAndDestroy();
      else held.socket.destroy();
      const aborted = await outcome;
      expect(aborted.error?.code).toBe('ECONNRESET');
      expect(aborted.clientAbort).toBe(true);
    }
  });

  it('rejects the same way when the client went away before readBody was called', async () => {
    delayMs = 100;
    const outcome = nextOutcome();
    const held = await holdConnection(base, head(LIMIT) + 'x'.repeat(10));
    await pause(20);
    held.socket.destroy();
    const aborted = await outcome;
    expect(aborted.error).toBeDefined();
    expect(aborted.error).not.toBeInstanceOf(BodyTooLargeError);
    expect(aborted.clientAbort).toBe(true);
  });
});
