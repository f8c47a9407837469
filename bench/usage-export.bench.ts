import { get } from 'node:http';
import { startBillingBenchService } from './support/billing-bench-service';
import type { BenchContext, BenchRow, BenchSuite, BenchVerdict, SuiteResult } from './support/suite';
import { seedUsageMonth } from './support/usage-seed';

const SUITE = 'usage-export';
/** From issue 12, on MariaDB: a month's export at ≥ 50,000 rows/s with memory flat. */
const TARGET_ROWS_PER_SECOND = 50_000;
/** Flat: what the second half of the download adds to the first half's peak resident memory. */
const FLAT_MARGIN_MB = 32;
const MONTH = '2026-10';
const CALLS = Number(process.env.BENCH_EXPORT_CALLS ?? 1_000_000);
const SAMPLE_MS = 100;

interface Download {
  rows: number;
  bytes: number;
  seconds: number;
  /** resident memory (MB) before the request, and its peak over each half of the rows */
  rssBeforeMb: number;
  rssPeakFirstHalfMb: number;
  rssPeakSecondHalfMb: number;
  heapPeakMb: number;
}

const mb = (bytes: number) => bytes / 1024 / 1024;

/**
 * Downloads the export as a client that reads as fast as it can and keeps nothing (it counts line
 * ends), while this process, which also runs the service, samples its memory: a server that held
 * the month, or a page per row, would grow with the rows read.
 */
function download(url: string, token: string, expectedRows: number, headerLines: number): Promise<Download> {
  return new Promise((resolveDownload, reject) => {
    const rssBefore = process.memoryUsage().rss;
    let lines = 0;
    let bytes = 0;
    let firstHalfPeak = rssBefore;
    let secondHalfPeak = 0;
    let heapPeak = 0;
    const sample = () => {
      const { rss, heapUsed } = process.memoryUsage();
      heapPeak = Math.max(heapPeak, heapUsed);
      if (lines - headerLines < expectedRows / 2) firstHalfPeak = Math.max(firstHalfPeak, rss);
      else secondHalfPeak = Math.max(secondHalfPeak, rss);
    };
    const sampler = setInterval(sample, SAMPLE_MS);
    const started = process.hrtime.bigint();
    get(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
      if (response.statusCode !== 200) {
        clearInterval(sampler);
        response.resume();
        reject(new Error(`export answered ${response.statusCode}`));
        return;
      }
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
      });
      response.on('end', () => {
        sample();
        clearInterval(sampler);
        resolveDownload({
          rows: lines - headerLines,
          bytes,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          rssBeforeMb: mb(rssBefore),
          rssPeakFirstHalfMb: mb(firstHalfPeak),
          rssPeakSecondHalfMb: mb(secondHalfPeak),
          heapPeakMb: mb(heapPeak),
        });
      });
      response.on('error', reject);
    }).on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
  });
}

export const usageExportSuite: BenchSuite = {
  name: SUITE,
  description: `GET /v1/exports/usage of a ${CALLS.toLocaleString('en-US')}-call month, CSV then JSON Lines, one client reading at full speed (owner JWT)`,

  async run(context: BenchContext): Promise<SuiteResult> {
    const service = await startBillingBenchService(context);
    try {
      const { id, ownerToken } = await service.createWorkspace('Bench export');
      const seedStarted = Date.now();
      await seedUsageMonth(service.app.dataSource, { workspaceId: id, month: MONTH, calls: CALLS, seed: 12 }, context.log);
      context.log(`${CALLS.toLocaleString('en-US')} calls seeded in ${((Date.now() - seedStarted) / 1000).toFixed(0)} s`);

      const rows: BenchRow[] = [];
      const verdicts: BenchVerdict[] = [];
      const notes: string[] = [];
      const onTarget = context.database.kind !== 'sqlite';
      for (const format of ['csv', 'jsonl'] as const) {
        context.log(`downloading the ${format} export`);
        const result = await download(`${service.url}/v1/exports/usage?workspaceId=${id}&month=${MONTH}&format=${format}`, ownerToken, CALLS, format === 'csv' ? 1 : 0);
        const rowsPerSecond = result.rows / result.seconds;
        const growth = result.rssPeakSecondHalfMb - result.rssPeakFirstHalfMb;
        rows.push({ suite: SUITE, case: `${format} export, rows/s in the req/s column`, requestsPerSecond: rowsPerSecond, p50Ms: result.seconds * 1000, p99Ms: result.seconds * 1000, failures: result.rows === CALLS ? 0 : 1 });
        verdicts.push(
          {
            label: `${format}: ≥ ${TARGET_ROWS_PER_SECOND.toLocaleString('en-US')} rows/s`,
            met: onTarget ? rowsPerSecond >= TARGET_ROWS_PER_SECOND : undefined,
            detail: `${Math.round(rowsPerSecond).toLocaleString('en-US')} rows/s: ${result.rows.toLocaleString('en-US')} rows, ${mb(result.bytes).toFixed(0)} MB in ${result.seconds.toFixed(1)} s`,
          },
          {
            label: `${format}: memory flat (second half adds < ${FLAT_MARGIN_MB} MB to the first half's peak RSS)`,
            met: growth < FLAT_MARGIN_MB,
            detail: `RSS ${result.rssBeforeMb.toFixed(0)} MB before, peak ${result.rssPeakFirstHalfMb.toFixed(0)} MB over the first half, ${result.rssPeakSecondHalfMb.toFixed(0)} MB over the second (${growth >= 0 ? '+' : ''}${growth.toFixed(0)} MB); heap peak ${result.heapPeakMb.toFixed(0)} MB; the file itself is ${mb(result.bytes).toFixed(0)} MB`,
          },
          { label: `${format}: every row exported`, met: result.rows === CALLS, detail: `${result.rows.toLocaleString('en-US')} of ${CALLS.toLocaleString('en-US')}` },
        );
      }
      // The database's share: the same keyset pages read in-process, without formatting or HTTP.
      const readStarted = process.hrtime.bigint();
      let read = 0;
      let slowestPageMs = 0;
      let pageStarted = process.hrtime.bigint();
      for await (const page of service.app.seam.usageExport.pages(id, MONTH)) {
        read += page.length;
        slowestPageMs = Math.max(slowestPageMs, Number(process.hrtime.bigint() - pageStarted) / 1e6);
        pageStarted = process.hrtime.bigint();
      }
      const readSeconds = Number(process.hrtime.bigint() - readStarted) / 1e9;
      notes.push(
        `keyset pages alone (no formatting, no HTTP): ${Math.round(read / readSeconds).toLocaleString('en-US')} rows/s, ${read.toLocaleString('en-US')} rows in ${readSeconds.toFixed(1)} s, slowest page of 5,000 ${slowestPageMs.toFixed(0)} ms`,
      );
      if (service.logs.errorLines > 0) verdicts.push({ label: 'every answer correct', met: false, detail: `${service.logs.errorLines} error lines in the service's log` });
      notes.push('service and client share one process: the RSS includes the client, which keeps nothing but counters');
      return { rows, verdicts, notes };
    } finally {
      await service.stop();
    }
  },
};
