import type { AppConfig } from '../../src/config/config';
import { Plan } from '../../src/modules/workspace/workspace.enums';
import { REMOVE_KEY, REPLACE_KEY, SAVE_KEY } from './documents';
import { expectData } from './expectations';
import { FakeOpenRouter } from './fake-openrouter';
import { SeededWorkspace, seedWorkspace } from './fixtures';
import { canaryKey } from './leak-search';
import { startTestApp, TestApp } from './test-app';

/** A server whose OpenRouter is the fake, with a platform key of its own. */
export interface GatewayWorld {
  t: TestApp;
  fake: FakeOpenRouter;
  platformKey: string;
  close(): Promise<void>;
}

export async function startGatewayWorld(overrides: Partial<AppConfig> = {}): Promise<GatewayWorld> {
  const fake = new FakeOpenRouter();
  const baseUrl = await fake.start();
  const platformKey = canaryKey();
  const t = await startTestApp({ overrides: { openrouterBaseUrl: baseUrl, platformOpenrouterKey: platformKey, ...overrides } });
  return {
    t,
    fake,
    platformKey,
    async close() {
      await t.close();
      await fake.stop();
    },
  };
}

/** An ENTERPRISE workspace (one user per role) holding `key` as its OpenRouter key. */
export async function byokWorkspace(t: TestApp, key: string = canaryKey(), name = 'Byok'): Promise<SeededWorkspace & { key: string }> {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, name);
  expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
  return { ...ws, key };
}

export async function replaceKey(t: TestApp, ws: SeededWorkspace, key: string): Promise<void> {
  expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: key }, ws.tokens.billing));
}

export async function removeKey(t: TestApp, ws: SeededWorkspace): Promise<void> {
  expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.billing));
}

/** Published prices seeded by the migration, µ$ per million tokens. */
export const PRICES: Record<string, { input: number; output: number }> = {
  FRONTIER: { input: 15_000_000, output: 75_000_000 },
  BALANCED: { input: 3_000_000, output: 15_000_000 },
  COST_EFFECTIVE: { input: 250_000, output: 1_250_000 },
};

/** round_half_up((in × inPrice + out × outPrice) / 1e6), for test expectations. */
export function tierPrice(tier: string, inputTokens: number, outputTokens: number): number {
  const price = PRICES[tier];
  return Math.floor((inputTokens * price.input + outputTokens * price.output + 500_000) / 1_000_000);
}

/** The current UTC month, YYYY-MM (gateway calls are recorded at the time they are made). */
export function currentMonth(): string {
  return new Date().toISOString().slice(0, 7);
}

let sequence = 0;
/** A request id unique to this run. */
export function freshRequestId(label = 'req'): string {
  sequence += 1;
  return `${label}-${process.pid}-${Date.now().toString(36)}-${sequence}`;
}
