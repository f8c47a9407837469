import { QueryFailedError } from 'typeorm';
import { Settled, WriteBatcher } from '../src/db/write-batcher';

/** A writer that records each batch it was given and answers every item with its double. */
function doublingWriter(options: { failWith?: (items: number[]) => Error | undefined; delayMs?: number } = {}) {
  const batches: number[][] = [];
  const write = async (items: number[]): Promise<Array<Settled<number>>> => {
    batches.push([...items]);
    if (options.delayMs) await new Promise((resolveDelay) => setTimeout(resolveDelay, options.delayMs));
    const failure = options.failWith?.(items);
    if (failure) throw failure;
    return items.map((item) => (item < 0 ? { ok: false, error: new Error(`negative: ${item}`) } : { ok: true, value: item * 2 }));
  };
  return { batches, write };
}

const statementFailure = () => new QueryFailedError('INSERT …', [], new Error('Data too long for column'));

describe('WriteBatcher', () => {
  it('writes items submitted in the same tick as one batch and answers each with its own outcome', async () => {
    const writer = doublingWriter();
    const batcher = new WriteBatcher(writer.write, 100);
    const outcomes = await Promise.allSettled([1, 2, -3, 4].map((item) => batcher.submit(item)));
    expect(writer.batches).toEqual([[1, 2, -3, 4]]);
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 4 },
      { status: 'rejected', reason: new Error('negative: -3') },
      { status: 'fulfilled', value: 8 },
    ]);
  });

  it('gathers items that arrive while a batch is being written into the next batch', async () => {
    const writer = doublingWriter({ delayMs: 20 });
    const batcher = new WriteBatcher(writer.write, 100);
    const first = batcher.submit(1);
    await new Promise((resolveLater) => setTimeout(resolveLater, 5));
    const later = [2, 3, 4].map((item) => batcher.submit(item));
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8]);
    expect(writer.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('never puts more than maxBatch items in one batch', async () => {
    const writer = doublingWriter();
    const batcher = new WriteBatcher(writer.write, 3);
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((item) => batcher.submit(item)));
    expect(writer.batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('writes each item alone after a failed statement, so only the item that breaks it fails', async () => {
    const writer = doublingWriter({ failWith: (items) => (items.includes(13) ? statementFailure() : undefined) });
    const batcher = new WriteBatcher(writer.write, 100);
    const outcomes = await Promise.allSettled([12, 13, 14].map((item) => batcher.submit(item)));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(QueryFailedError);
    expect(writer.batches).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it('fails every item of the batch at once when the database cannot be reached, without retrying each', async () => {
    const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });
    const writer = doublingWriter({ failWith: () => unreachable });
    const batcher = new WriteBatcher(writer.write, 100);
    const outcomes = await Promise.allSettled([1, 2, 3].map((item) => batcher.submit(item)));
    expect(outcomes).toEqual([1, 2, 3].map(() => ({ status: 'rejected', reason: unreachable })));
    expect(writer.batches).toEqual([[1, 2, 3]]);
  });

  it('keeps working after a failed batch', async () => {
    let failNext = true;
    const writer = doublingWriter({
      failWith: () => {
        const failure = failNext ? new Error('connection lost') : undefined;
        failNext = false;
        return failure;
      },
    });
    const batcher = new WriteBatcher(writer.write, 100);
    await expect(batcher.submit(1)).rejects.toThrow('connection lost');
    expect(await batcher.submit(2)).toBe(4);
  });
  it('lets an item linger for company: items submitted within its linger share its batch', async () => {
    const writer = doublingWriter();
    const batcher = new WriteBatcher(writer.write, 100);
    const first = batcher.submit(1, 200);
    await new Promise((resolveLater) => setTimeout(resolveLater, 20));
    expect(writer.batches).toEqual([]);
    const second = batcher.submit(2, 200);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(writer.batches).toEqual([[1, 2]]);
  });

  it('writes at once when an item without a linger arrives, taking the lingering ones along', async () => {
    const writer = doublingWriter();
    const batcher = new WriteBatcher(writer.write, 100);
    const lingering = batcher.submit(1, 60_000);
    const urgent = batcher.submit(2);
    expect(await Promise.all([lingering, urgent])).toEqual([2, 4]);
    expect(writer.batches).toEqual([[1, 2]]);
    // the lingering timer went with the batch: a later item starts a wait of its own
    expect(await batcher.submit(3, 10)).toBe(6);
    expect(writer.batches).toEqual([[1, 2], [3]]);
  });
});
