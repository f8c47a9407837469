import { createServer, Server, Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (the database), that a fault test can cut and restore:
 * `cut()` destroys every open connection and stops listening, so new connections are refused
 * (ECONNREFUSED), as when the database host goes away; `restore()` listens again on the same port.
 * `stall()` is the nastier fault: connections stay open and new ones are accepted, but nothing
 * passes either way, as when a host or a firewall silently drops packets.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  private listenPort = 0;
  /** connections accepted since start, for "the fault was exercised" checks */
  accepted = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get port(): number {
    return this.listenPort;
  }

  get cutOff(): boolean {
    return this.server === undefined;
  }

  async start(): Promise<void> {
    await this.listen(0);
  }

  /** Destroys every connection in both directions and refuses new ones until `restore()`. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  }

  /** Nothing passes until `cut()` and `restore()`: every byte either way is dropped. */
  stall(): void {
    this.stalled = true;
  }

  async restore(): Promise<void> {
    this.stalled = false;
    if (!this.server) await this.listen(this.listenPort);
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.pipe(client));
    return new Promise((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        this.server = server;
        const address = server.address();
        if (address && typeof address === 'object') this.listenPort = address.port;
        resolveListen();
      });
    });
  }

  private pipe(client: Socket): void {
    if (!this.server) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = new Socket();
    this.sockets.add(client);
    this.sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    // Writes to a socket that is still connecting are buffered, so both directions pipe at once.
    upstream.connect(this.targetPort, this.targetHost);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (!this.stalled) to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }
}
