import { fdatasync } from 'node:fs';
import { promisify } from 'node:util';

const fdatasyncAsync = promisify(fdatasync);

/**
 * Group commit: one fdatasync (on libuv's thread pool, off the event loop) covers every write made
 * before it started; writes made while one runs wait for the next.
 */
export class GroupSync {
  private running?: Promise<void>;
  private queued?: Promise<void>;

  constructor(
    private readonly fd: number,
    private readonly synced: (seconds: number) => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  /** Resolves once every sync asked for so far has ended. */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)!.catch(() => undefined);
  }

  private start(): Promise<void> {
    const started = process.hrtime.bigint();
    const running = fdatasyncAsync(this.fd).then(() => this.synced(Number(process.hrtime.bigint() - started) / 1e9));
    this.running = running;
    void running.finally(() => {
      if (this.running === running) this.running = undefined;
    }).catch(() => undefined);
    return running;
  }
}
