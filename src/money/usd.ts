/**
 * US dollars as decimal text → integer micro-USD, exactly: no binary floating point touches the
 * value, and it is rounded half-up once, at the seventh decimal.
 */
const DECIMAL_USD = /^(\d{1,16})(?:\.(\d{1,30}))?$/;
const MICROS_PER_USD = 1_000_000n;

export class InvalidUsdAmountError extends Error {
  constructor() {
    super('amount must be a non-negative decimal number of US dollars, such as "0.000123"');
    this.name = 'InvalidUsdAmountError';
  }
}

export function parseUsdToMicrosOrThrow(text: string): number {
  const match = DECIMAL_USD.exec(text);
  if (!match) throw new InvalidUsdAmountError();
  const fraction = (match[2] ?? '').padEnd(7, '0');
  let micros = BigInt(match[1]) * MICROS_PER_USD + BigInt(fraction.slice(0, 6));
  if (fraction.charCodeAt(6) >= '5'.charCodeAt(0)) micros += 1n;
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidUsdAmountError();
  return Number(micros);
}

/** The amount a valid decimal USD text stands for, written one way: "000.00010" → "0.0001". */
export function canonicalUsdText(text: string): string {
  const match = DECIMAL_USD.exec(text);
  if (!match) throw new InvalidUsdAmountError();
  const whole = match[1].replace(/^0+(?=\d)/, '');
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

/**
 * The shortest decimal text of a JSON number (which is what the sender wrote, for any number with
 * at most 17 significant digits), with exponents written out: 1e-7 → "0.0000001".
 */
export function numberToDecimalText(value: number): string | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  const text = String(value);
  const exponent = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exponent) return text;
  const digits = exponent[1] + (exponent[2] ?? '');
  const shift = Number(exponent[3]);
  if (shift < 0) return `0.${'0'.repeat(-shift - 1)}${digits}`;
  return digits.padEnd(shift + 1, '0');
}

/** A USD amount reported as a JSON number, in micro-USD; undefined when missing, negative or not finite. */
export function usdNumberToMicros(value: unknown): number | undefined {
  if (typeof value !== 'number') return undefined;
  const text = numberToDecimalText(value);
  if (text === undefined) return undefined;
  try {
    return parseUsdToMicrosOrThrow(text);
  } catch {
    return undefined;
  }
}
