import './support/production-env';
import 'reflect-metadata';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { keyStatusSuite } from './key-status.bench';
import { gatewaySuite } from './gateway.bench';
import { keyResolutionSuite } from './key-resolution.bench';
import { propagationSuite } from './propagation.bench';
import { billingRecordingSuite } from './billing-recording.bench';
import { billingReadSuite } from './billing-read.bench';
import { metricsOverheadSuite } from './metrics-overhead.bench';
import { usageExportSuite } from './usage-export.bench';
import { budgetCheckSuite } from './budget-check.bench';
import { webhookDeliverySuite } from './webhook-delivery.bench';
import { hostileSuite } from './hostile.bench';
import { measureCpuSteal } from './support/cpu-steal';
import { DEFAULT_BENCH_DATABASE_URL, prepareBenchDatabase } from './support/database';
import type { BenchContext, BenchRow, BenchSuite, LoadSettings } from './support/suite';
import { formatTable } from './support/table';

/**
 * npm run bench [-- --only <suite>] [-- --duration <s>]
 *
 * Every suite, in this order. A new suite (billing recording throughput, gateway latency…) is a
 * `<name>.bench.ts` file in bench/ exporting a BenchSuite, added to this list.
 */
const SUITES: BenchSuite[] = [keyStatusSuite, billingRecordingSuite, billingReadSuite, gatewaySuite, keyResolutionSuite, propagationSuite, metricsOverheadSuite, usageExportSuite, budgetCheckSuite, webhookDeliverySuite, hostileSuite];

const DEFAULT_LOAD: LoadSettings = { connections: 50, warmupSeconds: 2, durationSeconds: 10 };

function optionValue(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  if (index < 0) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

function positiveNumber(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

/** 1/5/15-minute load averages: other work on the machine skews every figure here. */
function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ');
}

function busyWarning(): string {
  return loadavg()[0] > 0.5 ? ' (the machine was busy: figures are lower than on an idle machine)' : '';
}

/** Names suites had before, still accepted by --only. */
const RENAMED: Record<string, string> = { 'gateway-latency': 'gateway' };

function selectSuites(only: string | undefined): BenchSuite[] {
  if (only === undefined) return SUITES;
  const name = RENAMED[only] ?? only;
  const chosen = SUITES.filter((suite) => suite.name === name);
  if (chosen.length === 0) throw new Error(`unknown suite "${only}"; known: ${SUITES.map((suite) => suite.name).join(', ')}`);
  return chosen;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const suites = selectSuites(optionValue(args, 'only'));
  const load: LoadSettings = {
    ...DEFAULT_LOAD,
    durationSeconds: positiveNumber(optionValue(args, 'duration'), 'duration', DEFAULT_LOAD.durationSeconds),
    connections: positiveNumber(optionValue(args, 'connections'), 'connections', DEFAULT_LOAD.connections),
  };

  const requestedUrl = process.env.BENCH_DATABASE_URL || DEFAULT_BENCH_DATABASE_URL;
  const prepared = await prepareBenchDatabase(requestedUrl);
  if (prepared.fallbackReason) process.stdout.write(`\n!! ${prepared.fallbackReason}\n\n`);

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `machine:  ${availableParallelism()} CPUs (${cpu}), node ${process.version}, NODE_ENV=${process.env.NODE_ENV}`,
      `database: ${prepared.database.kind} ${prepared.database.version}${prepared.database.url ? ` (${new URL(prepared.database.url).pathname.slice(1)}, created afresh for each suite)` : ''}`,
      `busy:     load average ${loadAverage()} before the run${busyWarning()}`,
      `load:     autocannon, ${load.connections} connections, ${load.warmupSeconds} s warm-up then ${load.durationSeconds} s measured, in a separate process`,
      '',
    ].join('\n'),
  );

  const context: BenchContext = { database: prepared.database, load, log: (message) => process.stdout.write(`  … ${message}\n`) };
  const rows: BenchRow[] = [];
  const lines: string[] = [];
  let failed = false;
  try {
    for (const suite of suites) {
      process.stdout.write(`suite ${suite.name}: ${suite.description}\n`);
      try {
        await prepared.recreate();
        const steal = measureCpuSteal();
        const result = await suite.run(context);
        const stolen = steal();
        if (stolen !== undefined) lines.push(`${suite.name}: CPU steal ${stolen.toFixed(1)} % of all CPU time during the suite (taken by the VM's host for others)`);
        rows.push(...result.rows);
        for (const verdict of result.verdicts) {
          const mark = verdict.met === undefined ? 'n/a ' : verdict.met ? 'MET ' : 'MISS';
          lines.push(`[${mark}] ${suite.name}: ${verdict.label}: ${verdict.detail}`);
          if (verdict.label === 'every answer correct' && verdict.met === false) failed = true;
        }
        lines.push(...result.notes.map((note) => `${suite.name}: ${note}`));
      } catch (error) {
        failed = true;
        lines.push(`[FAIL] ${suite.name}: ${(error as Error).stack ?? String(error)}`);
      }
    }
  } finally {
    await prepared.drop();
  }

  process.stdout.write(`\n${formatTable(rows)}\n\n${lines.join('\n')}\n\nload average ${loadAverage()} after the run (includes the benchmark itself)\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(1);
  },
);
