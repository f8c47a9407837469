import type { BenchRow } from './suite';

function pad(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
}

/** A plain-text table: suite, case, req/s, p50, p99, failures. */
export function formatTable(rows: BenchRow[]): string {
  const header = ['suite', 'case', 'req/s', 'p50 ms', 'p99 ms', 'failures'];
  const body = rows.map((row) => [
    row.suite,
    row.case,
    Math.round(row.requestsPerSecond).toLocaleString('en-US'),
    row.p50Ms.toFixed(1),
    row.p99Ms.toFixed(1),
    String(row.failures),
  ]);
  const widths = header.map((_, i) => Math.max(header[i].length, ...body.map((cells) => cells[i].length)));
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [pad(header, widths), rule, ...body.map((cells) => pad(cells, widths))].join('\n');
}
