/** What `npm run bench:compare` was asked to measure. */
export interface CompareOptions {
  oldRevision: string;
  newRevision: string;
  rounds: number;
  /** requests per path per round, sent at `rate` */
  requests: number;
  rate: number;
  /** MariaDB/MySQL server URL; the database name in it gets `_old` / `_new` appended. Absent: SQLite. */
  databaseUrl?: string;
}

const DEFAULTS = { oldRevision: '0cb59cb', newRevision: 'main', rounds: 7, requests: 1200, rate: 300 };

const KNOWN = ['old', 'new', 'rounds', 'requests', 'rate', 'database-url'];

function positiveInteger(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer (got "${raw}")`);
  return value;
}

/** Parses `--old <rev> --new <rev> --rounds <n> --requests <n> --rate <n> --database-url <url>`. */
export function parseCompareArgs(args: string[]): CompareOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    const name = flag.startsWith('--') ? flag.slice(2) : '';
    if (!KNOWN.includes(name)) throw new Error(`unknown argument "${flag}"; known: ${KNOWN.map((known) => `--${known}`).join(', ')}`);
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
    values.set(name, value);
  }
  const databaseUrl = values.get('database-url');
  if (databaseUrl !== undefined && !/^(mysql|mariadb):\/\//.test(databaseUrl)) throw new Error('--database-url must be a mysql:// or mariadb:// URL');
  return {
    oldRevision: values.get('old') ?? DEFAULTS.oldRevision,
    newRevision: values.get('new') ?? DEFAULTS.newRevision,
    rounds: values.has('rounds') ? positiveInteger(values.get('rounds') as string, 'rounds') : DEFAULTS.rounds,
    requests: values.has('requests') ? positiveInteger(values.get('requests') as string, 'requests') : DEFAULTS.requests,
    rate: values.has('rate') ? positiveInteger(values.get('rate') as string, 'rate') : DEFAULTS.rate,
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
  };
}

/** `old, new, old, new, …`: each round runs both revisions back to back, so drift on the shared machine hits both alike. */
export function interleavedOrder(rounds: number): Array<'old' | 'new'> {
  return Array.from({ length: rounds }, () => ['old', 'new'] as const).flat();
}
