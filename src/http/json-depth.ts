/**
 * Whether `text` (JSON or not) opens more than `maxDepth` arrays and objects inside one another.
 * One pass over the characters, no recursion and no allocation, so it is safe before JSON.parse:
 * a body of a million `[` would parse, then overflow the stack of whatever walks it next.
 */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
