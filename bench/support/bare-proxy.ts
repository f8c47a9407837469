import type { ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPool } from 'mysql2/promise';
import { Agent, request } from 'undici';
import { DURABLE_APPEND_FLAGS } from '../../src/modules/usage/ledger/group-write';
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

/**
 * The bare proxy plus only what SPEC.md's usage ledger puts on a call's path, done the cheapest
 * way: one SELECT on usage_record's unique (workspace_id, request_id) index before the call goes
 * upstream (a used id answers 409), and the intent's durable append (O_DSYNC, one write per call
 * on libuv's pool) while the upstream works, the answer waiting for it. No authentication, key,
 * budget, recording or metrics. Any gateway that keeps the ledger's rules adds at least this.
 */
export function startLedgerFloorProxy(upstreamUrl: string, databaseUrl: string, journalPath: string): Promise<{ url: string; process: ChildProcess }> {
  return forkChildServer(join(__dirname, 'bare-proxy.js'), [upstreamUrl, databaseUrl, journalPath]);
}

/** Before the call goes upstream: `used` when the request id is on the record, else what the answer waits for. */
type Admit = (requestId: string) => Promise<'used' | { durable: Promise<unknown> }>;

async function ledgerAdmission(databaseUrl: string, journalPath: string): Promise<Admit> {
  const pool = createPool({ uri: databaseUrl, connectionLimit: 20 });
  const journal = await open(journalPath, DURABLE_APPEND_FLAGS);
  return async (requestId) => {
    const [rows] = await pool.query('SELECT id FROM usage_record WHERE workspace_id = ? AND request_id = ?', ['floor', requestId]);
    if ((rows as unknown[]).length > 0) return 'used';
    return { durable: journal.write(`${JSON.stringify({ intent: requestId, at: Date.now() })}\n`) };
  };
}

function serve(upstreamUrl: string, admit: Admit | undefined) {
  const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
  const forward = (incoming: IncomingMessage, outgoing: ServerResponse, body: Buffer, durable: Promise<unknown> | undefined) =>
    request(`${upstreamUrl}/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: incoming.headers.authorization ?? '', 'content-type': 'application/json', 'x-request-id': String(incoming.headers['x-request-id'] ?? '') },
      body,
    }).then(async (answer) => {
      const answerBody = Buffer.from(await answer.body.arrayBuffer());
      await durable;
      outgoing.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') }).end(answerBody);
    });
  return createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const admitted = admit ? admit(String(incoming.headers['x-request-id'] ?? '')) : Promise.resolve({ durable: undefined });
      admitted
        .then((admission) => (admission === 'used' ? void outgoing.writeHead(409).end() : forward(incoming, outgoing, body, admission.durable)))
        .catch(() => outgoing.writeHead(502).end());
    });
  });
}

if (require.main === module) {
  const [upstreamUrl, databaseUrl, journalPath] = process.argv.slice(2);
  const admission = databaseUrl && journalPath ? ledgerAdmission(databaseUrl, journalPath) : Promise.resolve(undefined);
  void admission.then((admit) => {
    const server = serve(upstreamUrl, admit);
    server.keepAliveTimeout = 65_000;
    server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  });
  process.on('disconnect', () => process.exit(0));
}
