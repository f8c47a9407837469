import { connect, Socket } from 'node:net';

/**
 * Sends one request exactly as written (request line as given, then `Host` and `Connection: close`)
 * and resolves with whatever the server answered before closing: for request targets no HTTP client
 * library would send.
 */
export function rawRequestLine(base: URL, requestLine: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolveAnswer, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to ${JSON.stringify(requestLine)} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(`${requestLine}\r\nHost: ${base.host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolveAnswer(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

/**
 * Sends `bytes` exactly as given (nothing added) and resolves with what the server answered by the
 * time it closed the connection, or by `timeoutMs` (then with what came so far).
 */
export function rawExchange(base: URL, bytes: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolveAnswer) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    const finish = () => resolveAnswer(Buffer.concat(chunks).toString('latin1'));
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', finish);
    socket.on('error', () => undefined);
  });
}

/** The status code of the first response in a raw answer, or undefined when there is none. */
export function statusOf(answer: string): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
  return match ? Number(match[1]) : undefined;
}

/** An open connection whose every byte the test decides, and what the server sent on it. */
export interface HeldConnection {
  socket: Socket;
  /** what the server sent so far */
  answer(): string;
  /** resolves once the server (or anyone) closed the connection, with what it sent */
  closed: Promise<string>;
}

/** Opens a connection and sends `bytes` (perhaps nothing), then holds it open. */
export function holdConnection(base: URL, bytes = ''): Promise<HeldConnection> {
  return new Promise((resolveHeld, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    const answer = () => Buffer.concat(chunks).toString('latin1');
    const closed = new Promise<string>((resolveClosed) => socket.on('close', () => resolveClosed(answer())));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      if (bytes !== '') socket.write(bytes);
      resolveHeld({ socket, answer, closed });
    });
    socket.once('error', reject);
  });
}
