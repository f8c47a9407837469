import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** the status answered */
  status: number;
}

/** A webhook receiver on loopback: answers the programmed statuses in turn (then 200) and keeps what it got. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly statuses: number[] = [];
  private readonly headersFor: Record<number, Record<string, string>> = {};
  private server?: Server;
  url = '';

  async start(): Promise<string> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const status = this.statuses.shift() ?? 200;
        this.received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        response.writeHead(status, this.headersFor[status] ?? {}).end();
      });
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', () => resolveListen()));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    return this.url;
  }

  /** The next answers, in order. */
  answer(...statuses: number[]): this {
    this.statuses.push(...statuses);
    return this;
  }

  withHeaders(status: number, headers: Record<string, string>): this {
    this.headersFor[status] = headers;
    return this;
  }

  ofType(type: string): ReceivedWebhook[] {
    return this.received.filter((hook) => (JSON.parse(hook.body) as { type: string }).type === type);
  }

  async waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) throw new Error(`webhook receiver: condition not met; got ${this.received.length} requests`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 20));
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  }
}
