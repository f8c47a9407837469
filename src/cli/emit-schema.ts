import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAppSchema, printAppSchema } from '../graphql/schema';

/** npm run schema: writes schema/schema.graphql from the code (a test fails when they drift). */
async function main(): Promise<void> {
  const target = join(__dirname, '..', '..', '..', 'schema', 'schema.graphql');
  writeFileSync(target, printAppSchema(await buildAppSchema()));
  process.stdout.write(`wrote ${target}\n`);
}

void main();
