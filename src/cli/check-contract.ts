import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildSchema } from 'graphql';
import { buildAppSchema } from '../graphql/schema';
import { judgeAgainstContract, parsePendingList, verdictPasses } from './contract/contract-comparison';
import { fail, option } from './cli-support';

/** The checkout this script was compiled from: the nearest folder up with a package.json. */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const REPOSITORY = repositoryRoot(__dirname);
/** Where the team keeps the contract, beside the repository; a checkout elsewhere passes --contract. */
const DEFAULT_CONTRACT = join(REPOSITORY, '..', 'shared', 'api-contract.graphql');
const PENDING_LIST = join(REPOSITORY, 'schema', 'contract-pending.txt');

/**
 * npm run check:contract [-- --contract <path>]: our schema against the team's API contract. Not
 * part of `npm test`, which reads nothing outside the repository; CI runs it and fails loudly when
 * the contract file is not there.
 */
async function main(): Promise<void> {
  const contractPath = resolve(option(process.argv.slice(2), 'contract') ?? DEFAULT_CONTRACT);
  if (!existsSync(contractPath)) fail(`contract check FAILED: no contract at ${contractPath} (pass --contract <path>)`);
  const contract = buildSchema(readFileSync(contractPath, 'utf8'));
  const pending = parsePendingList(readFileSync(PENDING_LIST, 'utf8'));
  const verdict = judgeAgainstContract(contract, await buildAppSchema(), pending);
  if (!verdictPasses(verdict)) {
    const problems = Object.entries(verdict)
      .filter(([, list]) => list.length > 0)
      .map(([kind, list]) => `  ${kind}:\n${list.map((item: string) => `    ${item}`).join('\n')}`);
    fail(`contract check FAILED against ${contractPath}\n${problems.join('\n')}\n(a coordinate that has landed leaves schema/contract-pending.txt)`);
  }
  process.stdout.write(`contract check passed against ${contractPath}: ${pending.length} coordinate(s) pending\n`);
}

void main();
