import { open } from 'node:fs/promises';

/**
 * Appends a call the database answered but would not take to a file of its own beside the
 * journal, synced before it returns: the replay never reads these files, an operator does.
 */
export async function keepAside(path: string, line: string): Promise<void> {
  const file = await open(path, 'a', 0o600);
  try {
    await file.write(`${line}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
}
