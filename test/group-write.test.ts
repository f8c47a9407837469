import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DURABLE_APPEND_FLAGS, GroupWrite } from '../src/modules/usage/ledger/group-write';
import { UsageJournal } from '../src/modules/usage/ledger/usage-journal';
import { InferencePath, KeySource } from '../src/modules/usage/usage.enums';
import { ModelTier } from '../src/modules/workspace/workspace.enums';

/** Linux's O_DSYNC, as /proc/<pid>/fdinfo shows a descriptor's flags (octal). */
const LINUX_O_DSYNC = 0o10000;

/** The file status flags of this process's descriptors open on `path`. */
function openFlagsOf(path: string): number[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path) return [];
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      return flags ? [parseInt(flags[1], 8)] : [];
    } catch {
      return [];
    }
  });
}

/** The journal's writes: many calls' lines in one durable write() once they overlap, none lost, none torn, in order. */
describe('GroupWrite', () => {
  let dir: string;
  let fd: number;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'group-write-'));
    path = join(dir, 'journal.jsonl');
    fd = openSync(path, DURABLE_APPEND_FLAGS, 0o600);
  });

  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the first append at once and batches those that arrive while it runs, keeping their order', async () => {
    const commits: number[] = [];
    const writes = new GroupWrite(fd, (seconds) => commits.push(seconds));
    const lines = Array.from({ length: 500 }, (_, i) => `${JSON.stringify({ n: i, pad: 'x'.repeat(i % 50) })}\n`);
    await Promise.all(lines.map((line) => writes.append(line)));
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(commits.length).toBeLessThan(lines.length / 10);
    expect(commits.every((seconds) => seconds > 0)).toBe(true);
  });

  it('an append alone is its own write, done when it resolves', async () => {
    const commits: number[] = [];
    const writes = new GroupWrite(fd, (seconds) => commits.push(seconds));
    await writes.append('one\n');
    expect(readFileSync(path, 'utf8')).toBe('one\n');
    await writes.append('two\n');
    expect(readFileSync(path, 'utf8')).toBe('one\ntwo\n');
    expect(commits).toHaveLength(2);
  });

  it('a failed write fails every append of its batch, and later appends are tried again', async () => {
    const readOnly = openSync(path, 'r');
    const commits: number[] = [];
    const writes = new GroupWrite(readOnly, (seconds) => commits.push(seconds));
    const results = await Promise.allSettled([writes.append('a\n'), writes.append('b\n'), writes.append('c\n')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    await expect(writes.append('d\n')).rejects.toThrow();
    await writes.idle();
    expect(commits).toHaveLength(0);
    closeSync(readOnly);
  });

  // /proc shows the flags: Linux, where the service runs in production and CI.
  it('the journal opens its segments for synchronised appends (O_DSYNC), so a resolved append is on disk', async () => {
    const journalDir = mkdtempSync(join(tmpdir(), 'journal-flags-'));
    const journal = new UsageJournal(journalDir, pino({ enabled: false }));
    try {
      const entry = journal.intend({
        requestId: 'flags-1',
        workspaceId: 'ws-flags',
        path: InferencePath.AGENT_RUN,
        tier: ModelTier.BALANCED,
        keySource: KeySource.BYOK,
        model: 'openai/gpt-4o-mini',
        occurredAt: new Date(),
        actorUserId: null,
      });
      await entry.durable;
      const segment = readdirSync(journalDir).find((name) => name.endsWith('.jsonl'));
      expect(segment).toBeDefined();
      const flags = openFlagsOf(join(journalDir, segment as string));
      expect(flags).toHaveLength(1);
      expect(flags[0] & LINUX_O_DSYNC).toBe(LINUX_O_DSYNC);
      expect(readFileSync(join(journalDir, segment as string), 'utf8')).toContain('"requestId":"flags-1"');
      journal.settleAfter(journal.conclude(entry, undefined), entry, true);
    } finally {
      await journal.stop();
      rmSync(journalDir, { recursive: true, force: true });
    }
  });
});
