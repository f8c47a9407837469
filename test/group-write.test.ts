import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupWrite } from '../src/modules/usage/ledger/group-write';

/** The journal's writes: many calls' lines in one write() once they overlap, none lost, none torn, in order. */
describe('GroupWrite', () => {
  let dir: string;
  let fd: number;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'group-write-'));
    path = join(dir, 'journal.jsonl');
    fd = openSync(path, 'a', 0o600);
  });

  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the first append at once and batches those that arrive while it runs, keeping their order', async () => {
    const writes = new GroupWrite(fd);
    const lines = Array.from({ length: 500 }, (_, i) => `${JSON.stringify({ n: i, pad: 'x'.repeat(i % 50) })}\n`);
    await Promise.all(lines.map((line) => writes.append(line)));
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
    expect(writes.batches).toBeGreaterThanOrEqual(2);
    expect(writes.batches).toBeLessThan(lines.length / 10);
  });

  it('an append alone is its own write, done when it resolves', async () => {
    const writes = new GroupWrite(fd);
    await writes.append('one\n');
    expect(readFileSync(path, 'utf8')).toBe('one\n');
    await writes.append('two\n');
    expect(readFileSync(path, 'utf8')).toBe('one\ntwo\n');
    expect(writes.batches).toBe(2);
  });

  it('a failed write fails every append of its batch, and later appends are tried again', async () => {
    const readOnly = openSync(path, 'r');
    const writes = new GroupWrite(readOnly);
    const results = await Promise.allSettled([writes.append('a\n'), writes.append('b\n'), writes.append('c\n')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    await expect(writes.append('d\n')).rejects.toThrow();
    await writes.idle();
    closeSync(readOnly);
  });
});
