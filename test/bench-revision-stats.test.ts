import { interleavedOrder, parseCompareArgs } from '../bench/support/revision-args';
import { cpuMicrosPerRequest, cpuVerdict, median, pairedMedianDifference, percentDifference } from '../bench/support/revision-stats';

/** bench:compare's arithmetic and arguments: what decides issue 9's "within 5 % CPU per request". */
describe('bench:compare statistics', () => {
  it('takes the middle value of an odd count, unsorted input included', () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(median([5, 1, 1000, 3, 4])).toBe(4);
  });

  it('takes the mean of the two middle values of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('refuses the median of nothing', () => {
    expect(() => median([])).toThrow('median of no values');
  });

  it('does not reorder the caller’s array', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it('gives the percent difference relative to the old value, negative when the new one is smaller', () => {
    expect(percentDifference(200, 210)).toBeCloseTo(5, 10);
    expect(percentDifference(200, 150)).toBeCloseTo(-25, 10);
    expect(() => percentDifference(0, 10)).toThrow('positive base');
  });

  it('is within at exactly +5 %, over just above it, and within for any improvement', () => {
    expect(cpuVerdict(1000, 1050)).toBe('within');
    expect(cpuVerdict(1000, 1051)).toBe('over');
    expect(cpuVerdict(1000, 700)).toBe('within');
    expect(cpuVerdict(1000, 1080, 10)).toBe('within');
  });

  it('takes the median of each round’s own difference, and refuses unpaired rounds', () => {
    // rounds: +10 %, -50 %, +20 %: the median round difference is +10 %
    expect(pairedMedianDifference([100, 200, 100], [110, 100, 120])).toBeCloseTo(10, 10);
    expect(() => pairedMedianDifference([100, 200], [110])).toThrow('unpaired rounds');
  });

  it('turns CPU seconds over a number of requests into µs per request', () => {
    expect(cpuMicrosPerRequest(1.5, 1000)).toBeCloseTo(1500, 10);
    expect(() => cpuMicrosPerRequest(1, 0)).toThrow('no requests');
  });
});

describe('bench:compare arguments', () => {
  it('reads every option', () => {
    expect(parseCompareArgs(['--old', 'abc123', '--new', 'main', '--rounds', '5', '--requests', '900', '--rate', '250', '--database-url', 'mysql://root@127.0.0.1:3306/cmp'])).toEqual({
      oldRevision: 'abc123',
      newRevision: 'main',
      rounds: 5,
      requests: 900,
      rate: 250,
      databaseUrl: 'mysql://root@127.0.0.1:3306/cmp',
    });
  });

  it('defaults to issue 9’s comparison on SQLite', () => {
    const options = parseCompareArgs([]);
    expect(options).toMatchObject({ oldRevision: '0cb59cb', newRevision: 'main', rounds: 7 });
    expect(options.databaseUrl).toBeUndefined();
  });

  it('refuses unknown flags, missing values, non-integer counts and non-MySQL URLs', () => {
    expect(() => parseCompareArgs(['--roundz', '3'])).toThrow('unknown argument "--roundz"');
    expect(() => parseCompareArgs(['--old'])).toThrow('--old needs a value');
    expect(() => parseCompareArgs(['--old', '--new', 'main'])).toThrow('--old needs a value');
    expect(() => parseCompareArgs(['--rounds', '2.5'])).toThrow('--rounds must be a positive integer');
    expect(() => parseCompareArgs(['--rounds', '0'])).toThrow('--rounds must be a positive integer');
    expect(() => parseCompareArgs(['--database-url', 'postgres://x/y'])).toThrow('mysql:// or mariadb://');
  });

  it('orders turns old, new, old, new… one pair per round', () => {
    expect(interleavedOrder(3)).toEqual(['old', 'new', 'old', 'new', 'old', 'new']);
  });
});
