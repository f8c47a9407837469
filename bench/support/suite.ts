/** What a benchmark suite is given and what it reports; bench/run.ts runs every registered suite. */

export interface BenchDatabase {
  /** mysql://… for MariaDB/MySQL; undefined for the embedded SQLite fallback */
  url?: string;
  kind: 'mariadb' | 'mysql' | 'sqlite';
  /** e.g. "10.11.19-MariaDB-0+deb12u1" */
  version: string;
}

export interface LoadSettings {
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export interface BenchContext {
  database: BenchDatabase;
  load: LoadSettings;
  /** progress lines, printed as they happen */
  log(message: string): void;
}

/** One line of the results table. */
export interface BenchRow {
  suite: string;
  case: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** non-2xx answers, socket errors, timeouts and answers whose body differed from the expected one */
  failures: number;
}

/** A target the suite checks; `met` is undefined when it cannot be judged (e.g. not on MariaDB). */
export interface BenchVerdict {
  label: string;
  met: boolean | undefined;
  detail: string;
}

export interface SuiteResult {
  rows: BenchRow[];
  verdicts: BenchVerdict[];
  /** observations printed under the table (profiles, caveats) */
  notes: string[];
}

export interface BenchSuite {
  /** used by `--only <name>` */
  name: string;
  description: string;
  run(context: BenchContext): Promise<SuiteResult>;
}
