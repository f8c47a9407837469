import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { OpenRouterKeyVerifier } from './openrouter-key.verifier';
import { isKeyUnavailable, TenantSecretStore } from '../secrets/tenant-secret.store';
import type { KeyHealthService } from './key-health.service';

/** Keys claimed per pass at most: a pass stays short, and the next one takes the rest. */
const BATCH = 20;
/** Far beyond one check (OpenRouter's answer is awaited 3 s at most): a worker that died frees its keys after this. */
const LEASE_MS = 60_000;
/** An unreachable OpenRouter doubles the wait before a key's next check, up to this many intervals. */
const MAX_BACKOFF_INTERVALS = 8;

export interface KeyRecheckOptions {
  intervalMs: number;
  /** [0, 1): tests pass a fixed one */
  random?: () => number;
}

/**
 * Re-checks every stored key with OpenRouter (`GET /key`) about every `intervalMs`, jittered by
 * ±10 % so that keys saved together, or workers started together, do not ask together. Each key is
 * checked by one worker at a time, whichever takes its lease in the database first; the others
 * skip it. What OpenRouter says goes through KeyHealthService (remaining credit, LOW_CREDIT, the
 * refusal statuses); when it cannot be asked, the key's next check waits twice as long each time.
 */
export class KeyRecheckWorker {
  private readonly owner = randomUUID();
  private readonly random: () => number;
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private running = false;
  private stopping = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly health: KeyHealthService,
    private readonly secrets: TenantSecretStore,
    private readonly verifier: OpenRouterKeyVerifier,
    private readonly log: Logger,
    private readonly options: KeyRecheckOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** How often the worker looks for due keys: a tenth of the interval, between 50 ms and 30 s. */
  private get pollMs(): number {
    return Math.min(30_000, Math.max(50, Math.floor(this.options.intervalMs / 10)));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.schedule();
  }

  /** No new pass; the one under way ends after the key it is checking. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  /** One pass over the keys due now; resolves when they are all checked (tests call it directly). */
  runOnce(): Promise<void> {
    this.pass ??= this.checkDueKeys().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((error: unknown) => this.log.warn({ reason: (error as Error)?.message }, 'key re-check pass failed; the next pass tries again'))
        .finally(() => this.schedule());
    }, this.jittered(this.pollMs));
    this.timer.unref();
  }

  private jittered(ms: number): number {
    return Math.round(ms * (0.9 + 0.2 * this.random()));
  }

  private async checkDueKeys(): Promise<void> {
    const now = new Date();
    const due = await this.health.dueForRecheck(now, this.options.intervalMs, BATCH);
    for (const workspaceId of due) {
      if (this.stopping) return;
      if (!(await this.health.claimRecheck(workspaceId, this.owner, new Date(), LEASE_MS, this.options.intervalMs))) continue;
      await this.recheck(workspaceId).catch(async (error: unknown) => {
        this.log.warn({ workspaceId, reason: (error as Error)?.message }, 'key re-check failed');
        await this.backOff(workspaceId).catch(() => undefined);
      });
    }
  }

  private async recheck(workspaceId: string): Promise<void> {
    const row = await this.secrets.findRow(this.dataSource.manager, workspaceId);
    if (!row) return;
    let key: string | undefined;
    try {
      key = this.secrets.decryptOrThrow(row).openrouterKey;
    } catch (error) {
      if (!isKeyUnavailable(error)) throw error;
      await this.health.markUnavailable(workspaceId, row.updatedAt);
    }
    if (key === undefined) {
      await this.health.releaseRecheck(workspaceId, this.owner, this.nextCheckAt(0), 0);
      return;
    }
    const check = await this.verifier.checkLive(key);
    if (check.outcome === 'unreachable') return this.backOff(workspaceId);
    await this.health.recordRecheck(workspaceId, row.updatedAt, this.owner, { check, nextCheckAt: this.nextCheckAt(0), failures: 0 });
  }

  private async backOff(workspaceId: string): Promise<void> {
    const failures = (await this.health.recheckFailures(workspaceId)) + 1;
    await this.health.releaseRecheck(workspaceId, this.owner, this.nextCheckAt(failures), failures);
  }

  /** One interval after a success; after n failures in a row, 2^n intervals, at most 8. */
  private nextCheckAt(failures: number): Date {
    const intervals = Math.min(MAX_BACKOFF_INTERVALS, 2 ** failures);
    return new Date(Date.now() + this.jittered(this.options.intervalMs * intervals));
  }
}
