import fc from 'fast-check';
import { billedMicros, BillingRangeError, PricePerMillion, tierPriceMicros } from '../src/modules/billing/billing-calculator';
import { summarise } from '../src/modules/billing/billing-summary.service';
import { canonicalUsdText, InvalidUsdAmountError, numberToDecimalText, parseUsdToMicrosOrThrow, usdNumberToMicros } from '../src/money/usd';
import { KeySource } from '../src/modules/usage/usage.enums';
import { ModelTier } from '../src/modules/workspace/workspace.enums';

/**
 * The money rules as pure functions (SPEC.md, "Billing"): integer micro-USD, half-up rounding once,
 * exact far beyond 2^32 and up to 2^53, and every out-of-range input refused rather than guessed.
 */

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 − 1
const price = (input: number, output: number): PricePerMillion => ({ inputMicrosPerMillionTokens: input, outputMicrosPerMillionTokens: output });

/** The rule written independently of the implementation, in BigInt: round_half_up(numerator / 1e6). */
function referenceTierPrice(inputTokens: number, outputTokens: number, p: PricePerMillion): bigint {
  const numerator = BigInt(inputTokens) * BigInt(p.inputMicrosPerMillionTokens) + BigInt(outputTokens) * BigInt(p.outputMicrosPerMillionTokens);
  const quotient = numerator / 1_000_000n;
  const remainder = numerator % 1_000_000n;
  return remainder * 2n >= 1_000_000n ? quotient + 1n : quotient;
}

describe('tierPriceMicros', () => {
  it.each<[string, number, number, PricePerMillion, number]>([
    ['zero tokens', 0, 0, price(15_000_000, 75_000_000), 0],
    ['zero prices', 1_000_000, 1_000_000, price(0, 0), 0],
    ['one million tokens at the published BALANCED price', 1_000_000, 1_000_000, price(3_000_000, 15_000_000), 18_000_000],
    ['the smoke-test call (1000 in, 500 out, BALANCED)', 1000, 500, price(3_000_000, 15_000_000), 10_500],
    ['exactly .5 µ$ rounds up', 1, 0, price(500_000, 0), 1],
    ['exactly .5 µ$ from the output side rounds up', 0, 1, price(0, 500_000), 1],
    ['just below .5 µ$ rounds down', 1, 0, price(499_999, 0), 0],
    ['just above .5 µ$ rounds up', 1, 0, price(500_001, 0), 1],
    ['1.5 µ$ rounds up to 2', 3, 0, price(500_000, 0), 2],
    ['2.5 µ$ rounds up to 3 (half-up, not half-even)', 5, 0, price(500_000, 0), 3],
    ['.25 + .25 = .5 rounds up (rounded once, on the sum)', 1, 1, price(250_000, 250_000), 1],
    ['.49 + .49 rounds once to 1, not 0 + 0', 1, 1, price(490_000, 490_000), 1],
    ['1.999999 rounds to 2', 1, 1, price(500_000, 1_499_999), 2],
    ['COST_EFFECTIVE: 2 input tokens are .5 µ$', 2, 0, price(250_000, 1_250_000), 1],
    ['COST_EFFECTIVE: 1 input token is .25 µ$', 1, 0, price(250_000, 1_250_000), 0],
    ['tokens beyond 2^32', 2 ** 32 + 1, 0, price(1_000_000, 0), 2 ** 32 + 1],
    ['product beyond 2^53, result exact', 4e10, 0, price(1_000_000, 0), 4e10],
    ['product beyond 2^53 ending in .5, result exact', 4e10 - 1, 1, price(1_000_000, 500_000), 4e10],
    ['2^53 − 1 tokens at 1 µ$/M', MAX, 0, price(1, 0), 9_007_199_255],
    ['2^53 − 1 tokens at 1 µ$ each: the largest result', MAX, 0, price(1_000_000, 0), MAX],
    // (2^53 − 1) × 500000 / 1e6 = 4503599627370495.5: not representable as a double, and half-up gives …496
    ['odd 2^53 − 1 tokens at .5 µ$ each, half-way at 2^52', MAX, 0, price(500_000, 0), 4_503_599_627_370_496],
    ['the largest price (1e12 µ$/M) on 1e9 tokens', 1e9, 1e9, price(1e12, 1e12), 2e15],
  ])('%s', (_name, inputTokens, outputTokens, p, expected) => {
    const result = tierPriceMicros(inputTokens, outputTokens, p);
    expect(result).toBe(expected);
    expect(Number.isSafeInteger(result)).toBe(true);
    expect(BigInt(result)).toBe(referenceTierPrice(inputTokens, outputTokens, p));
  });

  it.each<[string, number, number, PricePerMillion]>([
    ['negative input tokens', -1, 0, price(1, 1)],
    ['negative output tokens', 0, -1, price(1, 1)],
    ['NaN tokens', Number.NaN, 0, price(1, 1)],
    ['Infinity tokens', Number.POSITIVE_INFINITY, 0, price(1, 1)],
    ['−Infinity tokens', 0, Number.NEGATIVE_INFINITY, price(1, 1)],
    ['fractional tokens', 1.5, 0, price(1, 1)],
    ['2^53 tokens (not a safe integer)', 2 ** 53, 0, price(1, 1)],
    ['negative input price', 1, 1, price(-1, 1)],
    ['negative output price', 1, 1, price(1, -1)],
    ['NaN price', 1, 1, price(Number.NaN, 1)],
    ['Infinity price', 1, 1, price(1, Number.POSITIVE_INFINITY)],
    ['fractional price', 1, 1, price(0.5, 1)],
    ['a result beyond 2^53', MAX, MAX, price(1_000_000, 1_000_000)],
    ['a result beyond 2^53 from the output side', 0, 2 ** 40, price(0, 1e12)],
  ])('refuses %s with a BillingRangeError', (_name, inputTokens, outputTokens, p) => {
    expect(() => tierPriceMicros(inputTokens, outputTokens, p)).toThrow(BillingRangeError);
  });
});

describe('billedMicros', () => {
  it.each<[string, KeySource, number, number | null, number]>([
    ['platform: zero', KeySource.PLATFORM, 0, 0, 0],
    ['platform: the tier price, whatever the raw cost', KeySource.PLATFORM, 10_500, 4_124, 10_500],
    ['platform: a raw cost above the tier price changes nothing', KeySource.PLATFORM, 10_500, 99_999, 10_500],
    ['platform: unknown raw cost (flagged) is billed the tier price', KeySource.PLATFORM, 10_500, null, 10_500],
    ['BYOK: the margin', KeySource.BYOK, 10_500, 4_124, 6_376],
    ['BYOK: zero margin', KeySource.BYOK, 10_500, 10_500, 0],
    ['BYOK: margin floored at zero', KeySource.BYOK, 10_500, 10_501, 0],
    ['BYOK: a raw cost far above the tier price', KeySource.BYOK, 1, MAX, 0],
    ['BYOK: free upstream call', KeySource.BYOK, 10_500, 0, 10_500],
    ['BYOK: unknown raw cost (flagged) is billed 0', KeySource.BYOK, 10_500, null, 0],
    ['BYOK: zero everything', KeySource.BYOK, 0, 0, 0],
    ['huge platform amount', KeySource.PLATFORM, MAX, null, MAX],
    ['huge BYOK margin', KeySource.BYOK, MAX, 1, MAX - 1],
  ])('%s', (_name, keySource, tierPrice, rawCost, expected) => {
    expect(billedMicros(keySource, tierPrice, rawCost)).toBe(expected);
  });

  it.each<[string, KeySource, number, number | null]>([
    ['negative tier price', KeySource.PLATFORM, -1, 0],
    ['NaN tier price', KeySource.BYOK, Number.NaN, 0],
    ['Infinity tier price', KeySource.PLATFORM, Number.POSITIVE_INFINITY, null],
    ['fractional tier price', KeySource.PLATFORM, 1.5, null],
    ['unsafe tier price', KeySource.PLATFORM, 2 ** 53, null],
    ['negative raw cost on BYOK', KeySource.BYOK, 10, -1],
    ['NaN raw cost on BYOK', KeySource.BYOK, 10, Number.NaN],
    ['Infinity raw cost on BYOK', KeySource.BYOK, 10, Number.POSITIVE_INFINITY],
    ['fractional raw cost on BYOK', KeySource.BYOK, 10, 0.5],
    // A platform call's raw cost does not change its bill, but it is stored and summed for admins:
    // an impossible value must be refused there too, not silently accepted.
    ['negative raw cost on PLATFORM', KeySource.PLATFORM, 10, -1],
    ['NaN raw cost on PLATFORM', KeySource.PLATFORM, 10, Number.NaN],
    ['fractional raw cost on PLATFORM', KeySource.PLATFORM, 10, 0.5],
  ])('refuses %s with a BillingRangeError', (_name, keySource, tierPrice, rawCost) => {
    expect(() => billedMicros(keySource, tierPrice, rawCost)).toThrow(BillingRangeError);
  });
});

describe('parseUsdToMicrosOrThrow', () => {
  it.each<[string, number]>([
    ['0', 0],
    ['0.0', 0],
    ['0.000000', 0],
    ['1', 1_000_000],
    ['1.0', 1_000_000],
    ['0.000001', 1],
    ['0.000123', 123],
    ['0.0041235', 4124],
    ['0.0041234999', 4123],
    ['0.0000005', 1],
    ['0.00000049', 0],
    ['0.000000499999999999999999999999', 0],
    ['0.0000015', 2],
    ['0.0000025', 3],
    ['0.9999995', 1_000_000],
    ['0.9999994', 999_999],
    ['007', 7_000_000],
    ['123.456', 123_456_000],
    ['40000', 40_000_000_000],
    ['4294.967296', 4_294_967_296],
    ['9007199254.740991', MAX],
    ['9007199254.7409914', MAX],
    ['0.123456789012345678901234567890', 123_457],
  ])('"%s" → %d µ$', (text, expected) => {
    expect(parseUsdToMicrosOrThrow(text)).toBe(expected);
  });

  it.each([
    ['1e-6'],
    ['1E-6'],
    ['5e-7'],
    ['1e3'],
    ['+1'],
    ['-1'],
    ['-0'],
    ['-0.000001'],
    ['NaN'],
    ['Infinity'],
    ['-Infinity'],
    [''],
    [' 1'],
    ['1 '],
    ['\t1'],
    ['1.'],
    ['.5'],
    ['.'],
    ['1.2.3'],
    ['0x10'],
    ['1,5'],
    ['1_000'],
    ['$1'],
    ['1 USD'],
    ['abc'],
    ['１'],
    ['9007199254.7409915'],
    ['9007199255'],
    ['99999999999999999'],
    ['0.1234567890123456789012345678901'],
  ])('refuses %j', (text) => {
    expect(() => parseUsdToMicrosOrThrow(text)).toThrow(InvalidUsdAmountError);
  });
});

describe('canonicalUsdText', () => {
  it.each([
    ['0', '0'],
    ['000', '0'],
    ['0.000', '0'],
    ['0.0010000', '0.001'],
    ['000.001', '0.001'],
    ['10', '10'],
    ['10.50', '10.5'],
    ['0.0041235', '0.0041235'],
  ])('%j is written %j', (text, canonical) => {
    expect(canonicalUsdText(text)).toBe(canonical);
  });

  it('refuses what the parser refuses', () => {
    expect(() => canonicalUsdText('1e-3')).toThrow(InvalidUsdAmountError);
  });
});

describe('numberToDecimalText and usdNumberToMicros', () => {
  it.each<[number, string | undefined, number | undefined]>([
    [0, '0', 0],
    [1, '1', 1_000_000],
    [1e-7, '0.0000001', 0],
    [5e-7, '0.0000005', 1],
    [4.9e-7, '0.00000049', 0],
    [1.5e-10, '0.00000000015', 0],
    [1.5e-6, '0.0000015', 2],
    [123.456, '123.456', 123_456_000],
    [0.0041235, '0.0041235', 4124],
    [0.1 + 0.2, '0.30000000000000004', 300_000],
    [1e21, '1000000000000000000000', undefined],
    [-1, undefined, undefined],
    [-1e-7, undefined, undefined],
    [Number.NaN, undefined, undefined],
    [Number.POSITIVE_INFINITY, undefined, undefined],
    [Number.NEGATIVE_INFINITY, undefined, undefined],
  ])('%p → %p → %p µ$', (value, text, micros) => {
    expect(numberToDecimalText(value)).toBe(text);
    expect(usdNumberToMicros(value)).toBe(micros);
  });

  it.each([['0.001'], [null], [undefined], [{}], [true]])('usdNumberToMicros(%p) is undefined: only JSON numbers are costs', (value) => {
    expect(usdNumberToMicros(value)).toBeUndefined();
  });
});

describe('property: the summary is the sum of the per-call amounts', () => {
  type RollupGroups = Parameters<typeof summarise>[2];
  const tiers = Object.values(ModelTier);
  const callArbitrary = fc.record({
    tier: fc.constantFrom(...tiers),
    keySource: fc.constantFrom(KeySource.PLATFORM, KeySource.BYOK),
    inputTokens: fc.integer({ min: 0, max: 5_000_000 }),
    outputTokens: fc.integer({ min: 0, max: 5_000_000 }),
    inputPrice: fc.integer({ min: 0, max: 100_000_000 }),
    outputPrice: fc.integer({ min: 0, max: 100_000_000 }),
    rawCostMicros: fc.option(fc.integer({ min: 0, max: 2_000_000_000 }), { nil: null }),
  });

  it('for random calls, rolled up by (tier, key source) as the daily rollups are', () => {
    fc.assert(
      fc.property(fc.array(callArbitrary, { maxLength: 60 }), fc.boolean(), (calls, admin) => {
        const priced = calls.map((call) => {
          const tierPrice = tierPriceMicros(call.inputTokens, call.outputTokens, price(call.inputPrice, call.outputPrice));
          return { ...call, tierPrice, billed: billedMicros(call.keySource, tierPrice, call.rawCostMicros) };
        });
        const groups = new Map<string, RollupGroups[number]>();
        for (const call of priced) {
          const key = `${call.tier}/${call.keySource}`;
          const group = groups.get(key) ?? {
            tier: call.tier,
            keySource: call.keySource,
            calls: 0,
            inputTokens: 0,
            outputTokens: 0,
            tierPriceMicros: 0,
            rawCostMicros: 0,
            billedMicros: 0,
            flaggedCalls: 0,
          };
          group.calls += 1;
          group.inputTokens += call.inputTokens;
          group.outputTokens += call.outputTokens;
          group.tierPriceMicros += call.tierPrice;
          group.rawCostMicros += call.rawCostMicros ?? 0;
          group.billedMicros += call.billed;
          group.flaggedCalls += call.rawCostMicros === null ? 1 : 0;
          groups.set(key, group);
        }
        const summary = summarise('w', '2026-11', [...groups.values()], admin);

        const total = (list: typeof priced, pick: (c: (typeof priced)[number]) => number) => list.reduce((s, c) => s + pick(c), 0);
        const platform = priced.filter((c) => c.keySource === KeySource.PLATFORM);
        const byok = priced.filter((c) => c.keySource === KeySource.BYOK);
        expect(summary.calls).toBe(priced.length);
        expect(summary.platformCalls).toBe(platform.length);
        expect(summary.byokCalls).toBe(byok.length);
        expect(summary.inputTokens).toBe(total(priced, (c) => c.inputTokens));
        expect(summary.outputTokens).toBe(total(priced, (c) => c.outputTokens));
        expect(summary.tierPriceMicros).toBe(total(priced, (c) => c.tierPrice));
        expect(summary.platformChargeMicros).toBe(total(platform, (c) => c.billed));
        expect(summary.byokMarginMicros).toBe(total(byok, (c) => c.billed));
        expect(summary.totalBilledMicros).toBe(total(priced, (c) => c.billed));
        expect(summary.byokRawCostMicros).toBe(total(byok, (c) => c.rawCostMicros ?? 0));
        expect(summary.platformRawCostMicros).toBe(admin ? total(platform, (c) => c.rawCostMicros ?? 0) : null);
        expect(summary.flaggedCalls).toBe(priced.filter((c) => c.rawCostMicros === null).length);
        expect(summary.byTier.map((b) => b.tier)).toEqual(tiers);
        for (const breakdown of summary.byTier) {
          const ofTier = priced.filter((c) => c.tier === breakdown.tier);
          expect(breakdown).toEqual(
            expect.objectContaining({
              calls: ofTier.length,
              inputTokens: total(ofTier, (c) => c.inputTokens),
              outputTokens: total(ofTier, (c) => c.outputTokens),
              billedMicros: total(ofTier, (c) => c.billed),
            }),
          );
        }
        expect(summary.byTier.reduce((sum, b) => sum + b.billedMicros, 0)).toBe(summary.totalBilledMicros);
        // every amount is an exact integer: no float ever entered the arithmetic
        for (const value of [summary.totalBilledMicros, summary.tierPriceMicros, summary.byokRawCostMicros]) expect(Number.isSafeInteger(value)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  const tokens = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 2 ** 36 }), fc.integer({ min: 0, max: MAX }));
  const prices = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1e12 }));

  it('per-call tier prices agree with the BigInt reference for random inputs up to 2^53', () => {
    fc.assert(
      fc.property(
        tokens,
        tokens,
        prices,
        prices,
        (inputTokens, outputTokens, inputPrice, outputPrice) => {
          const p = price(inputPrice, outputPrice);
          const expected = referenceTierPrice(inputTokens, outputTokens, p);
          if (expected > BigInt(MAX)) {
            expect(() => tierPriceMicros(inputTokens, outputTokens, p)).toThrow(BillingRangeError);
          } else {
            expect(BigInt(tierPriceMicros(inputTokens, outputTokens, p))).toBe(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
