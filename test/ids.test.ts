import { timeOrderedId } from '../src/db/ids';

describe('timeOrderedId', () => {
  it('is a version-7, variant-1 UUID carrying the millisecond time', () => {
    const id = timeOrderedId(Date.UTC(2026, 10, 23, 12, 0, 0, 5) + 10_000_000);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.UTC(2026, 10, 23, 12, 0, 0, 5) + 10_000_000);
  });

  it('strictly increases even when many ids share one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => timeOrderedId());
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never goes backwards when given an earlier clock reading', () => {
    const later = timeOrderedId(Date.now() + 60_000);
    expect(timeOrderedId(Date.now()) > later).toBe(true);
  });

  it('gives every id random bits of its own, across refills of the random pool', () => {
    // rand_b: the 62 bits after the variant, never reused (the time and counter alone would keep ids apart)
    const tails = Array.from({ length: 2_000 }, () => timeOrderedId().slice(20));
    expect(new Set(tails).size).toBe(tails.length);
  });
});
