/**
 * The most one call may report (SPEC.md, "Hostile input"). No real model call comes near them
 * (context windows hold a few million tokens; the dearest calls cost dollars), so a value beyond
 * them is a bug or an attack, and one such call must not make every later sum of the month
 * unreadable.
 */
export const MAX_TOKENS_PER_CALL = 20_000_000;
/** 1,000 USD in micro-USD */
export const MAX_RAW_COST_MICROS_PER_CALL = 1_000_000_000;
