import { AgeOrderedMap } from '../src/cache/age-ordered-map';
import { RecentAnswers } from '../src/modules/usage/ledger/recent-answers';
import { KeySource } from '../src/modules/usage/usage.enums';

function drain<K, V>(map: AgeOrderedMap<K, V>): K[] {
  const keys: K[] = [];
  for (let oldest = map.oldest(); oldest; oldest = map.oldest()) {
    keys.push(oldest[0]);
    map.delete(oldest[0]);
  }
  return keys;
}

describe('AgeOrderedMap', () => {
  it('hands out entries oldest first; setting a key again makes it the newest', () => {
    const map = new AgeOrderedMap<string, number>();
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    map.set('a', 4);
    expect(map.get('a')).toBe(4);
    expect(map.size).toBe(3);
    expect(map.oldest()).toEqual(['b', 2]);
    expect(drain(map)).toEqual(['b', 'c', 'a']);
    expect(map.oldest()).toBeUndefined();
  });

  it('skips deleted entries, wherever they were', () => {
    const map = new AgeOrderedMap<number, string>();
    for (let i = 0; i < 10; i++) map.set(i, `v${i}`);
    for (const i of [0, 1, 5, 9]) expect(map.delete(i)).toBe(true);
    expect(map.delete(5)).toBe(false);
    expect(drain(map)).toEqual([2, 3, 4, 6, 7, 8]);
  });

  it('keeps the order through queue rebuilds: many keys set again, many deleted', () => {
    const map = new AgeOrderedMap<number, number>();
    for (let i = 0; i < 5_000; i++) map.set(i, i);
    // Odd keys again (newest now, in this order), every third key gone: thousands of stale slots.
    for (let i = 1; i < 5_000; i += 2) map.set(i, -i);
    for (let i = 0; i < 5_000; i += 3) map.delete(i);
    const expected = [...Array.from({ length: 5_000 }, (_, i) => i).filter((i) => i % 2 === 0), ...Array.from({ length: 5_000 }, (_, i) => i).filter((i) => i % 2 === 1)].filter(
      (i) => i % 3 !== 0,
    );
    expect(drain(map)).toEqual(expected);
  });

  it('one key set and read again and again stays one entry, oldest and newest at once', () => {
    const map = new AgeOrderedMap<string, number>();
    const seen: Array<[string, number] | undefined> = [];
    for (let i = 0; i < 20_000; i++) {
      map.set('only', i);
      seen.push(map.oldest());
    }
    expect(seen).toEqual(Array.from({ length: 20_000 }, (_, i) => ['only', i]));
    expect(map.size).toBe(1);
  });
});

describe('RecentAnswers', () => {
  const answer = (bytes: number) => ({ bodyHash: 'h', status: 200, headers: {}, body: Buffer.alloc(bytes), keySource: KeySource.BYOK });

  it('expires answers past their time and evicts the oldest when over its bytes, also after a key was kept again', () => {
    const answers = new RecentAnswers(1_000, 3 * (100 + 512));
    answers.put('a', answer(100), 0);
    answers.put('b', answer(100), 10);
    answers.put('a', answer(100), 20);
    answers.put('c', answer(100), 30);
    expect(answers.size).toBe(3);
    answers.put('d', answer(100), 40);
    // 'b' was the oldest: 'a' was kept again after it
    expect(answers.get('b', 40)).toBeUndefined();
    expect(answers.get('a', 40)).toBeDefined();
    expect(answers.get('a', 1_019)).toBeDefined();
    expect(answers.get('a', 1_020)).toBeUndefined();
    expect(answers.get('c', 1_020)).toBeDefined();
    expect(answers.get('d', 1_040)).toBeUndefined();
    expect(answers.size).toBe(0);
  });
});
