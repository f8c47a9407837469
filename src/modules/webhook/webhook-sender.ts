import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_AGENTS = 1_000;
const SOCKETS_PER_AGENT = 64;

/**
 * Keep-alive connections, one pool per (scheme, host name, checked address, port): a pooled
 * connection always goes to an address that was checked, and a host whose answer changes gets a
 * pool of its own. A new TCP (and TLS) connection per delivery cost more CPU than the rest of it.
 */
const agents = new Map<string, HttpAgent>();

function agentFor(url: URL, pinned: { address: string; family: 4 | 6 }, lookup: LookupFunction): HttpAgent {
  const key = `${url.protocol}//${url.hostname}|${pinned.address}|${url.port}`;
  let agent = agents.get(key);
  if (!agent) {
    if (agents.size >= MAX_AGENTS) {
      for (const old of agents.values()) old.destroy();
      agents.clear();
    }
    const options = { keepAlive: true, maxSockets: SOCKETS_PER_AGENT, lookup };
    agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(key, agent);
  }
  return agent;
}

export type SendOutcome = { status: number } | { error: string };

/**
 * POSTs one signed delivery to the address already checked: the connection's lookup answers with
 * it, so no second DNS answer is ever used, while TLS still verifies the certificate for the host
 * name. Redirects are answers like any other (a 3xx is not a success) and are never followed.
 */
export function sendPinned(url: URL, pinned: { address: string; family: 4 | 6 }, headers: Record<string, string>, body: string): Promise<SendOutcome> {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolveSend) => {
    let settled = false;
    const finish = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      resolveSend(outcome);
    };
    const request = send(
      url,
      {
        method: 'POST',
        lookup,
        agent: agentFor(url, pinned, lookup),
        timeout: ATTEMPT_TIMEOUT_MS,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'byok-billing-webhooks', ...headers },
      },
      (response: IncomingMessage) => {
        // The answer's body is not needed: read and dropped, so the socket closes cleanly.
        response.resume();
        response.on('end', () => finish({ status: response.statusCode ?? 0 }));
        response.on('error', () => finish({ status: response.statusCode ?? 0 }));
      },
    );
    request.on('timeout', () => {
      request.destroy();
      finish({ error: 'timed out' });
    });
    request.on('error', (error: NodeJS.ErrnoException) => finish({ error: `connection failed (${error.code ?? 'error'})` }));
    request.end(body);
  });
}
