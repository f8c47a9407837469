import { connect } from 'node:net';

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
