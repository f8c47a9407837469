import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { forkChildServer } from './child-server';

/**
 * The least a Node.js proxy in front of the fake upstream does, as the gateway benchmark's floor:
 * node:http reads the request, undici (the gateway's client, with its pool settings) sends it on,
 * the answer is relayed whole. No authentication, request-id check, journal, database or metrics.
 * What it adds to a call is the hop itself on this machine; what the gateway adds beyond it is
 * the gateway's own work.
 */
export function startBareProxy(upstreamUrl: string): Promise<{ url: string; process: ChildProcess }> {
  return forkChildServer(join(__dirname, 'bare-proxy.js'), [upstreamUrl]);
}

if (require.main === module) {
  const upstreamUrl = process.argv[2];
  const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      request(`${upstreamUrl}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: incoming.headers.authorization ?? '', 'content-type': 'application/json', 'x-request-id': String(incoming.headers['x-request-id'] ?? '') },
        body: Buffer.concat(chunks),
      })
        .then(async (answer) => {
          const body = Buffer.from(await answer.body.arrayBuffer());
          outgoing.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') }).end(body);
        })
        .catch(() => outgoing.writeHead(502).end());
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
}
