/** The first 8 characters, an ellipsis, the last 4: enough to recognise a key, useless to use it. */
export function maskedHint(key: string): string {
  return `${key.slice(0, 8)}…${key.slice(-4)}`;
}
