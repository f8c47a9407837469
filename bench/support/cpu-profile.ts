import { Session } from 'node:inspector/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
}

export interface FileIoShare {
  samples: number;
  /** samples not in V8's "(idle)": the event loop was running something */
  busySamples: number;
  fileIoSamples: number;
  /** of fileIoSamples, those inside a *Sync function of node:fs (the event loop blocked on the disk) */
  syncFileIoSamples: number;
  /** file I/O frames by self samples, most first: "fdatasync (native) 120" */
  topFrames: string[];
  /** the node:fs *Sync functions the synchronous samples were in, by samples: "readdirSync 3" */
  syncFunctions: string[];
}

/** Samples `work` with V8's CPU profiler, in this process (where the in-process service runs). */
export async function profileWhile<T>(work: () => Promise<T>): Promise<{ result: T; profile: Profile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const stop = async () => ((await session.post('Profiler.stop')) as { profile: Profile }).profile;
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await stop();
      throw error;
    }
    return { result, profile: await stop() };
  } finally {
    session.disconnect();
  }
}

const isFsFrame = (node: ProfileNode) => /^node:(internal\/)?fs(\/|$)/.test(node.callFrame.url);
/** native code (a binding such as fdatasync, or a builtin): no script, and not V8's "(idle)", "(program)"… */
const isNativeFrame = (node: ProfileNode) => node.callFrame.url === '' && !node.callFrame.functionName.startsWith('(');

function mostFirst(counts: Map<string, number>): string[] {
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([name, hits]) => `${name} ${hits}`);
}

/**
 * The share of samples spent in file I/O: a sample counts when its frame is node:fs code, or native
 * code called from node:fs (the fdatasync, write or open binding itself), directly or through other
 * native frames. Callbacks that node:fs calls back into are not file I/O and are not counted.
 */
export function fileIoShare(profile: Profile): FileIoShare {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const share: FileIoShare = { samples: 0, busySamples: 0, fileIoSamples: 0, syncFileIoSamples: 0, topFrames: [], syncFunctions: [] };
  const perFrame = new Map<string, number>();
  const perSyncFunction = new Map<string, number>();
  for (const node of byId.values()) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    share.samples += hits;
    if (node.callFrame.functionName !== '(idle)') share.busySamples += hits;
    let fs = false;
    let sync: string | undefined;
    for (let frame: ProfileNode | undefined = node; frame && (isFsFrame(frame) || isNativeFrame(frame)); frame = parentOf.get(frame.id)) {
      if (!isFsFrame(frame)) continue;
      fs = true;
      if (frame.callFrame.functionName.endsWith('Sync')) sync = frame.callFrame.functionName;
    }
    if (!fs) continue;
    share.fileIoSamples += hits;
    if (sync !== undefined) {
      share.syncFileIoSamples += hits;
      perSyncFunction.set(sync, (perSyncFunction.get(sync) ?? 0) + hits);
    }
    const name = `${node.callFrame.functionName || '(anonymous)'} (${node.callFrame.url || 'native'})`;
    perFrame.set(name, (perFrame.get(name) ?? 0) + hits);
  }
  share.topFrames = mostFirst(perFrame).slice(0, 5);
  share.syncFunctions = mostFirst(perSyncFunction);
  return share;
}
