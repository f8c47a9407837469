import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError } from './read-body';

/** How long a large body waits for a slot before its request is refused 429. */
export const LARGE_BODY_WAIT_MS = 2_000;

export interface HeldSlot {
  buffer: Buffer;
  /** gives the buffer to the next waiter; safe to call more than once */
  release(): void;
}

export interface LargeBodySlotsOptions {
  /** bodies up to this size are read as before, into fresh buffers: they never wait */
  smallBodyBytes: number;
  /** the largest body any caller may send: each slot holds one */
  slotBytes: number;
  /** large bodies in progress at once, in bytes: the number of slots is this over `slotBytes` */
  budgetBytes: number;
  waitMs?: number;
}

/**
 * GraphQL bodies over the anonymous cap (only authenticated callers may send them) are read into
 * one of a few buffers allocated once and reused, and each holds its buffer until its request is
 * answered. However many callers send megabyte bodies, the service reads, parses and answers at
 * most `budgetBytes` of them at once, and building a body allocates nothing new: the memory and
 * garbage that 2 MiB bodies cost no longer grow with the number of callers sending them. Requests
 * beyond wait in order, for `waitMs` at most.
 */
export class LargeBodySlots {
  readonly smallBodyBytes: number;
  readonly count: number;
  private readonly free: Buffer[];
  private readonly waiting: Array<(buffer: Buffer) => void> = [];
  private readonly waitMs: number;

  constructor(options: LargeBodySlotsOptions) {
    this.smallBodyBytes = options.smallBodyBytes;
    this.count = Math.floor(options.budgetBytes / options.slotBytes);
    this.waitMs = options.waitMs ?? LARGE_BODY_WAIT_MS;
    // allocUnsafeSlow: outside Node's shared pool, and its pages count as resident only once written.
    this.free = Array.from({ length: this.count }, () => Buffer.allocUnsafeSlow(options.slotBytes));
  }

  /** Slots no request holds. */
  get available(): number {
    return this.free.length;
  }

  /** A slot, or undefined when none came free within the wait or `signal` aborted first. */
  acquire(signal: AbortSignal): Promise<HeldSlot | undefined> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(this.held(buffer));
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolveSlot) => {
      const settle = (granted?: Buffer) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', giveUp);
        const queued = this.waiting.indexOf(grant);
        if (queued >= 0) this.waiting.splice(queued, 1);
        resolveSlot(granted ? this.held(granted) : undefined);
      };
      const grant = (granted: Buffer) => settle(granted);
      const giveUp = () => settle();
      const timer = setTimeout(giveUp, this.waitMs);
      signal.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(grant);
    });
  }

  private held(buffer: Buffer): HeldSlot {
    let released = false;
    return {
      buffer,
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiting.shift();
        if (next) next(buffer);
        else this.free.push(buffer);
      },
    };
  }
}

/** A body read whole (release its slot once the request is answered), or no slot came free in time. */
export type GraphqlBody = { kind: 'read'; bytes: Buffer; release(): void } | { kind: 'busy' };

const NOTHING_HELD = () => undefined;

function clientWentAway(): Error {
  return Object.assign(new Error('client went away while its body was awaited'), { code: 'ECONNRESET' });
}

/** Waits for a slot while the request's client is still there. */
async function slotFor(request: IncomingMessage, slots: LargeBodySlots): Promise<HeldSlot | undefined> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  request.once('close', onClose);
  try {
    return await slots.acquire(gone.signal);
  } finally {
    request.off('close', onClose);
  }
}

/**
 * Reads a GraphQL body of at most `limit` bytes (413 beyond, as readBody). One that declares more
 * than the small-body size waits for a slot before a byte is read; one without a declared length
 * waits once it grows past that size. Without a slot in time it is answered `busy` and the rest of
 * it is never read. A slot taken here is released on every failure; on success, by the caller.
 */
export async function readGraphqlBody(request: IncomingMessage, limit: number, slots: LargeBodySlots): Promise<GraphqlBody> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError();
  let slot: HeldSlot | undefined;
  if (declared > slots.smallBodyBytes) {
    slot = await slotFor(request, slots);
    if (request.destroyed) {
      slot?.release();
      throw clientWentAway();
    }
    if (!slot) return { kind: 'busy' };
  }
  return collect(request, limit, slots, slot);
}

function collect(request: IncomingMessage, limit: number, slots: LargeBodySlots, initial: HeldSlot | undefined): Promise<GraphqlBody> {
  return new Promise((resolveBody, reject) => {
    let slot = initial;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      outcome();
    };
    // Paused, the rest of the body stays unread: the answer closes the connection instead.
    const refuse = (outcome: () => void) => finish(() => {
      request.pause();
      slot?.release();
      outcome();
    });
    const store = (chunk: Buffer) => {
      if (slot) chunk.copy(slot.buffer, size);
      else chunks.push(chunk);
      size += chunk.length;
    };
    const moveIntoSlot = (held: HeldSlot) => {
      let offset = 0;
      for (const chunk of chunks) offset += chunk.copy(held.buffer, offset);
      chunks.length = 0;
      slot = held;
    };
    function onData(chunk: Buffer) {
      if (size + chunk.length > limit) return refuse(() => reject(new BodyTooLargeError()));
      if (slot || size + chunk.length <= slots.smallBodyBytes) return store(chunk);
      request.pause();
      void slotFor(request, slots).then((held) => {
        if (settled) return held?.release();
        if (!held) return refuse(() => (request.destroyed ? reject(clientWentAway()) : resolveBody({ kind: 'busy' })));
        moveIntoSlot(held);
        store(chunk);
        request.resume();
      });
    }
    function onEnd() {
      finish(() => resolveBody({ kind: 'read', bytes: slot ? slot.buffer.subarray(0, size) : Buffer.concat(chunks, size), release: slot?.release ?? NOTHING_HELD }));
    }
    function onError(error: Error) {
      refuse(() => reject(error));
    }
    function onClose() {
      if (!request.complete) refuse(() => reject(clientWentAway()));
    }
    request.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}
