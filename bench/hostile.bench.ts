import { Agent, request } from 'node:http';
import { connect, Socket } from 'node:net';
import { JwtCodec } from '../src/auth/jwt';
import { startServiceChild, ServiceChild } from './support/service-child';
import type { BenchContext, BenchRow, BenchSuite, BenchVerdict, SuiteResult } from './support/suite';

/**
 * SPEC.md "Hostile input": /healthz latency and the service's resident memory while one attack at
 * a time runs, beside the idle figures. The service runs in a process of its own (production
 * settings and default limits), so its memory is measured alone; the attacks and the probe run here.
 */

const PROBE_INTERVAL_MS = 20;
const P99_TARGET_MS = 100;
const GROWTH_TARGET_BYTES = 100 * 1024 * 1024;

interface Attack {
  name: string;
  /** starts the attack; resolves once it has stopped after `stopped()` turns true */
  run(target: URL, stopped: () => boolean, tokens: AttackTokens): Promise<void>;
}

interface AttackTokens {
  member: string;
  /** one token per user, for attacks spread over many principals */
  users: string[];
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** Sends `bytes` on a new connection and waits for the server to close it (or `timeoutMs`). */
function exchange(target: URL, bytes: string | Buffer, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolveDone) => {
    const socket = connect(Number(target.port), target.hostname);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', () => undefined);
    socket.on('close', () => resolveDone());
    socket.on('error', () => undefined);
  });
}

function post(path: string, body: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `POST ${path} HTTP/1.1\r\nHost: bench\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A GraphQL body of `size` bytes: thousands of variables, a long string, a list and an object, all of the wrong type. */
function hostileGraphqlBody(size: number): string {
  const variables: Record<string, unknown> = { w: { a: 'object' }, first: '', after: Array.from({ length: 1000 }, (_, i) => `item-${i}`) };
  for (let i = 0; i < 2000; i++) variables[`v${i}`] = `value-${i}`;
  const query = 'query A($w: ID!, $first: Int, $after: String) { auditEvents(workspaceId: $w, first: $first, after: $after) { pageInfo { hasNextPage } } }';
  const overhead = Buffer.byteLength(JSON.stringify({ query, variables }));
  variables.first = 's'.repeat(Math.max(0, size - overhead - 16));
  return JSON.stringify({ query, variables });
}

/** `workers` loops, each running `once` until stopped. */
async function loops(workers: number, stopped: () => boolean, once: (worker: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async (_, worker) => {
    while (!stopped()) await once(worker);
  }));
}

/** `count` connections, each kept open by `hold` and reopened when the server closes it, until stopped. */
async function heldConnections(target: URL, count: number, stopped: () => boolean, opening: (index: number) => string, drip?: string): Promise<void> {
  const sockets = new Set<Socket>();
  const open = (index: number): Promise<void> =>
    new Promise((resolveClosed) => {
      const socket = connect(Number(target.port), target.hostname);
      sockets.add(socket);
      let timer: NodeJS.Timeout | undefined;
      socket.on('connect', () => {
        const first = opening(index);
        if (first) socket.write(first);
        if (drip) timer = setInterval(() => socket.write(drip), 1_000);
      });
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        sockets.delete(socket);
        resolveClosed();
      });
    });
  await Promise.all(Array.from({ length: count }, async (_, index) => {
    while (!stopped()) {
      await open(index);
      if (!stopped()) await sleep(50);
    }
  }));
  for (const socket of sockets) socket.destroy();
}

const REQUEST_LINES = ['GET // HTTP/1.1', 'GET //x:99999/graphql HTTP/1.1', 'GET /%zz HTTP/1.1', 'GET http://example.com/graphql HTTP/1.1', `GET /${'a'.repeat(8 * 1024)} HTTP/1.1`, 'CONNECT x:443 HTTP/1.1', 'BREW / HTTP/1.1'];

const ATTACKS: Attack[] = [
  {
    name: 'hostile request lines (16 loops)',
    run: (target, stopped) => loops(16, stopped, (worker) => exchange(target, `${REQUEST_LINES[worker % REQUEST_LINES.length]}\r\nHost: x\r\nConnection: close\r\n\r\n`)),
  },
  {
    name: 'anonymous 64 KiB bodies, 3,000 variables (16 loops)',
    run: (target, stopped) => {
      const bytes = post('/graphql', hostileGraphqlBody(64 * 1024 - 64));
      return loops(16, stopped, () => exchange(target, bytes));
    },
  },
  {
    name: 'member 2 MiB bodies, 3,000 variables (8 loops)',
    run: (target, stopped, tokens) => {
      const bytes = post('/graphql', hostileGraphqlBody(2 * 1024 * 1024 - 64), { authorization: `Bearer ${tokens.member}` });
      return loops(8, stopped, () => exchange(target, bytes));
    },
  },
  {
    name: 'declared 100 MB bodies, never sent (16 loops)',
    run: (target, stopped) => loops(16, stopped, () => exchange(target, post('/graphql', '').replace(/content-length: \d+/, 'content-length: 100000000'))),
  },
  {
    name: 'nested JSON, 60 KB of [ (16 loops)',
    run: (target, stopped) => {
      const bytes = post('/graphql', '['.repeat(60_000));
      return loops(16, stopped, () => exchange(target, bytes));
    },
  },
  {
    name: '400 slow bodies of 400 users (1 byte/s)',
    run: (target, stopped, tokens) => heldConnections(target, 400, stopped, (index) => post('/graphql', '').replace(/content-length: \d+/, `content-length: 1000000\r\nauthorization: Bearer ${tokens.users[index]}`), 'x'),
  },
  {
    name: '400 slow anonymous bodies (1 byte/s)',
    run: (target, stopped) => heldConnections(target, 400, stopped, () => post('/graphql', '').replace(/content-length: \d+/, 'content-length: 1000000'), 'x'),
  },
  {
    name: '1,000 idle connections',
    run: (target, stopped) => heldConnections(target, 1_000, stopped, () => ''),
  },
  {
    name: 'one member, 64 concurrent queries',
    run: (target, stopped, tokens) => {
      const bytes = post('/graphql', JSON.stringify({ query: '{ viewer { userId memberships { workspaceId } } }' }), { authorization: `Bearer ${tokens.member}` });
      return loops(64, stopped, () => exchange(target, bytes));
    },
  },
];

interface Window {
  latencies: number[];
  failures: number;
  peakResident: number;
}

/** GET /healthz every PROBE_INTERVAL_MS on one keep-alive connection, and the service's memory, for `seconds`. */
async function observe(service: ServiceChild, seconds: number): Promise<Window> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const window: Window = { latencies: [], failures: 0, peakResident: service.residentBytes() };
  const until = Date.now() + seconds * 1000;
  const memory = setInterval(() => (window.peakResident = Math.max(window.peakResident, service.residentBytes())), 250);
  while (Date.now() < until) {
    const started = process.hrtime.bigint();
    const ok = await new Promise<boolean>((resolveProbe) => {
      const probe = request(`${service.url}/healthz`, { agent, timeout: 10_000 }, (response) => {
        response.resume();
        response.on('end', () => resolveProbe(response.statusCode === 200));
      });
      probe.on('timeout', () => probe.destroy());
      probe.on('error', () => resolveProbe(false));
      probe.end();
    });
    window.latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (!ok) window.failures++;
    await sleep(PROBE_INTERVAL_MS);
  }
  clearInterval(memory);
  agent.destroy();
  return window;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Case by case, each on a fresh service process: memory a case leaves behind would count against the next. */
async function measureCase(context: BenchContext, attack: Attack | undefined): Promise<{ window: Window; baseline: number; alive: boolean }> {
  const service = await startServiceChild(context.database.url);
  try {
    const jwt = new JwtCodec(service.jwtSecret);
    const tokens: AttackTokens = {
      member: await jwt.sign({ userId: 'bench-member', platformAdmin: false }, '4h'),
      users: attack ? await Promise.all(Array.from({ length: 400 }, (_, i) => jwt.sign({ userId: `bench-user-${i}`, platformAdmin: false }, '4h'))) : [],
    };
    // A few requests first, so the baseline is a service that has answered, as in production.
    await observe(service, 1);
    const baseline = service.residentBytes();
    let stop = false;
    const running = attack?.run(new URL(service.url), () => stop, tokens);
    if (running) await sleep(1_000);
    const window = await observe(service, context.load.durationSeconds);
    stop = true;
    await running;
    return { window, baseline, alive: service.alive() };
  } finally {
    await service.stop();
  }
}

export const hostileSuite: BenchSuite = {
  name: 'hostile',
  description: '/healthz p50/p99 and resident memory of the service under each hostile-input attack, beside idle',
  async run(context: BenchContext): Promise<SuiteResult> {
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const seconds = context.load.durationSeconds;
    let worstP99 = 0;
    let worstGrowth = 0;
    let allAlive = true;
    for (const attack of [undefined, ...ATTACKS]) {
      const name = attack?.name ?? 'idle';
      context.log(`${name}, ${seconds} s on a fresh service`);
      const { window, baseline, alive } = await measureCase(context, attack);
      const sorted = [...window.latencies].sort((a, b) => a - b);
      const row: BenchRow = { suite: 'hostile', case: name, requestsPerSecond: window.latencies.length / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), failures: window.failures + (alive ? 0 : 1) };
      rows.push(row);
      const growth = window.peakResident - baseline;
      worstP99 = Math.max(worstP99, row.p99Ms);
      worstGrowth = Math.max(worstGrowth, growth);
      allAlive &&= alive;
      notes.push(`${name}: resident ${mb(baseline)} before, ${mb(window.peakResident)} peak (${growth >= 0 ? '+' : ''}${mb(growth)})${alive ? '' : '; THE SERVICE DIED'}`);
    }
    const verdicts: BenchVerdict[] = [
      { label: `/healthz p99 under ${P99_TARGET_MS} ms under every attack`, met: worstP99 < P99_TARGET_MS, detail: `worst p99 ${worstP99.toFixed(1)} ms` },
      { label: 'resident memory growth under 100 MB under every attack', met: worstGrowth < GROWTH_TARGET_BYTES, detail: `worst peak growth ${mb(worstGrowth)}` },
      { label: 'every answer correct', met: allAlive && rows.every((r) => r.failures === 0), detail: `${rows.reduce((sum, r) => sum + r.failures, 0)} /healthz probes failed; service ${allAlive ? 'alive throughout' : 'died'}` },
    ];
    return { rows, verdicts, notes };
  },
};
