import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileIoShare, profileWhile } from '../bench/support/cpu-profile';
import { processCpuSeconds } from '../bench/support/process-cpu';

/** The gateway benchmark's CPU accounting: what it calls synchronous file I/O, and /proc CPU time. */
describe('bench CPU profile: file I/O share', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'bench-profile-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const forAbout = async (ms: number, step: () => Promise<void> | void) => {
    const until = Date.now() + ms;
    while (Date.now() < until) await step();
  };

  it('counts samples inside node:fs *Sync functions as synchronous file I/O and names them', async () => {
    const { profile } = await profileWhile(() => forAbout(400, () => writeFileSync(join(dir, 'sync.txt'), 'x'.repeat(4096))));
    const share = fileIoShare(profile);
    expect(share.syncFileIoSamples).toBeGreaterThan(0);
    expect(share.fileIoSamples).toBeGreaterThanOrEqual(share.syncFileIoSamples);
    expect(share.syncFunctions.join(' ')).toMatch(/Sync \d+/);
  });

  it('counts no synchronous file I/O when the files are written asynchronously', async () => {
    const { profile } = await profileWhile(() => forAbout(400, () => writeFile(join(dir, 'async.txt'), 'x'.repeat(4096))));
    const share = fileIoShare(profile);
    expect(share.samples).toBeGreaterThan(0);
    expect(share.syncFileIoSamples).toBe(0);
  });

  it('does not charge to file I/O the code node:fs calls back into', () => {
    // (root) → a node:fs callback wrapper → the caller's callback, which spends every sample.
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '' }, hitCount: 0, children: [2] },
        { id: 2, callFrame: { functionName: 'wrapper', url: 'node:fs' }, hitCount: 1, children: [3] },
        { id: 3, callFrame: { functionName: 'onWritten', url: 'file:///app/journal.js' }, hitCount: 9, children: [4] },
        { id: 4, callFrame: { functionName: 'stringify', url: '' }, hitCount: 5 },
      ],
    };
    const share = fileIoShare(profile);
    expect(share).toMatchObject({ samples: 15, busySamples: 15, fileIoSamples: 1, syncFileIoSamples: 0 });
  });
});

describe('bench process CPU time from /proc', () => {
  it('agrees with process.cpuUsage for this process', () => {
    const until = Date.now() + 300;
    while (Date.now() < until) Math.sqrt(Math.random());
    const own = process.cpuUsage();
    // /proc counts in 10 ms ticks and is read a moment later.
    expect(Math.abs(processCpuSeconds(process.pid) - (own.user + own.system) / 1e6)).toBeLessThan(0.1);
  });
});
