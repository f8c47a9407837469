import type { DataSource } from 'typeorm';
import { RequestIdLookup } from '../src/modules/usage/ledger/request-id-lookup';
import { seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import { callInput, recordOk } from './support/usage-calls';

/** The app's own connection, counting the statements sent through it. */
function countingQueries(dataSource: DataSource): { dataSource: DataSource; statements: string[] } {
  const statements: string[] = [];
  const counting = {
    query: (sql: string, parameters?: unknown[]) => {
      statements.push(sql);
      return dataSource.query(sql, parameters);
    },
  };
  return { dataSource: counting as unknown as DataSource, statements };
}

describe('RequestIdLookup', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('answers lookups made in one turn of the event loop with one query, each with its own record or none', async () => {
    const first = await seedWorkspace(t, undefined, 'Lookup one');
    const second = await seedWorkspace(t, undefined, 'Lookup two');
    const recorded = await recordOk(t, callInput(first.id, { requestId: 'lookup-recorded' }));
    const elsewhere = await recordOk(t, callInput(second.id, { requestId: 'lookup-elsewhere' }));
    const { dataSource, statements } = countingQueries(t.app.dataSource);
    const lookup = new RequestIdLookup(dataSource);

    const answers = await Promise.all([
      lookup.recordIdOf(first.id, 'lookup-recorded'),
      lookup.recordIdOf(first.id, 'lookup-elsewhere'),
      lookup.recordIdOf(second.id, 'lookup-elsewhere'),
      lookup.recordIdOf(second.id, 'lookup-recorded'),
      lookup.recordIdOf(first.id, 'LOOKUP-RECORDED'),
      ...Array.from({ length: 20 }, (_, index) => lookup.recordIdOf(first.id, `lookup-new-${index}`)),
    ]);
    expect(answers).toEqual([recorded.id, null, elsewhere.id, null, null, ...Array.from({ length: 20 }, () => null)]);
    expect(statements).toHaveLength(1);
  });

  it('never answers from memory: an id recorded after a lookup is seen by the next', async () => {
    const ws = await seedWorkspace(t, undefined, 'Lookup fresh');
    const { dataSource, statements } = countingQueries(t.app.dataSource);
    const lookup = new RequestIdLookup(dataSource);
    expect(await lookup.recordIdOf(ws.id, 'lookup-later')).toBeNull();
    const record = await recordOk(t, callInput(ws.id, { requestId: 'lookup-later' }));
    expect(await lookup.recordIdOf(ws.id, 'lookup-later')).toBe(record.id);
    expect(statements).toHaveLength(2);
  });

  it('splits a crowd of lookups into queries of at most 100 pairs', async () => {
    const ws = await seedWorkspace(t, undefined, 'Lookup crowd');
    const { dataSource, statements } = countingQueries(t.app.dataSource);
    const lookup = new RequestIdLookup(dataSource);
    const answers = await Promise.all(Array.from({ length: 250 }, (_, index) => lookup.recordIdOf(ws.id, `crowd-${index}`)));
    expect(answers.every((answer) => answer === null)).toBe(true);
    expect(statements).toHaveLength(3);
  });
});
