import { jsonDepthExceeds } from '../src/http/json-depth';

/** The depth bound on request JSON (JSON_MAX_DEPTH), checked before parsing. */
describe('jsonDepthExceeds', () => {
  it.each([
    ['a flat object', '{"a":1,"b":[1,2]}', 2, false],
    ['exactly the limit', '[[[1]]]', 3, false],
    ['one beyond the limit', '[[[[1]]]]', 3, true],
    ['objects and arrays mixed', '{"a":[{"b":[{}]}]}', 4, true],
    ['brackets inside strings', '{"a":"[[[[[{{{{{"}', 1, false],
    ['escaped quotes inside strings', '{"a":"\\"[[[[[\\""}', 1, false],
    ['an escaped backslash before the closing quote', '{"a":"\\\\"}', 1, false],
    ['an escaped backslash, then nesting', '{"a":"\\\\",[[[1]]]}', 3, true],
    ['siblings that each stay within the limit', '[[1],[2],[3],[[4]]]', 3, false],
    ['a string never closed', '["[[[[[[', 1, false],
    ['not JSON at all', 'hello', 1, false],
    ['a million [', '['.repeat(1_000_000), 64, true],
  ])('%s', (_name, text, maxDepth, expected) => {
    expect(jsonDepthExceeds(text, maxDepth)).toBe(expected);
  });

  it('agrees with the depth of parsed JSON for generated documents', () => {
    const depthOf = (value: unknown): number => (value !== null && typeof value === 'object' ? 1 + Math.max(0, ...Object.values(value as object).map(depthOf)) : 0);
    const make = (depth: number): unknown => (depth === 0 ? 'x"[{\\' : depth % 2 ? [make(depth - 1), 1] : { 'k"[': make(depth - 1) });
    for (let depth = 0; depth < 30; depth++) {
      const text = JSON.stringify(make(depth));
      expect(depthOf(JSON.parse(text))).toBe(depth);
      expect(jsonDepthExceeds(text, depth)).toBe(false);
      if (depth > 0) expect(jsonDepthExceeds(text, depth - 1)).toBe(true);
    }
  });
});
