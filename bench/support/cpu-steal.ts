import { readFileSync } from 'node:fs';

/** The machine's CPU time counters (jiffies), from the first line of /proc/stat. */
interface CpuTimes {
  total: number;
  steal: number;
}

function cpuTimes(): CpuTimes | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((value) => !Number.isFinite(value))) return undefined;
    return { total: fields.reduce((sum, value) => sum + value, 0), steal: fields[7] };
  } catch {
    return undefined; // not Linux
  }
}

/**
 * Starts counting the CPU time a virtual machine's host took for other tenants ("steal"); the
 * returned function gives its share of all CPU time since, in percent, or undefined where the
 * counters are not available. A few percent is noise; at 20 % and more every figure is lower and
 * noisier than the same code gives on a machine of its own.
 */
export function measureCpuSteal(): () => number | undefined {
  const before = cpuTimes();
  return () => {
    const after = cpuTimes();
    if (!before || !after || after.total <= before.total) return undefined;
    return (100 * (after.steal - before.steal)) / (after.total - before.total);
  };
}
