import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningApp, startApp } from '../../src/app';
import { JwtCodec } from '../../src/auth/jwt';
import { createLogger } from '../../src/logging/logger';
import { productionLikeConfig } from './bench-config';
import { ErrorLineCounter } from './error-line-counter';
import { graphqlOrThrow } from './graphql-request';
import type { BenchContext } from './suite';

export interface BillingBenchService {
  app: RunningApp;
  url: string;
  serviceToken: string;
  jwt: JwtCodec;
  adminToken: string;
  logs: ErrorLineCounter;
  /** an ENTERPRISE workspace made through the API, with an owner; returns its id and the owner's token */
  createWorkspace(name: string): Promise<{ id: string; ownerToken: string }>;
  stop(): Promise<void>;
}

/**
 * The service as deployed (NODE_ENV=production, LOG_LEVEL=warn, fresh strong secrets) on the
 * benchmark database, through the service's own config loader.
 */
export async function startBillingBenchService(context: BenchContext): Promise<BillingBenchService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'byok-bench-billing-'));
  const serviceToken = randomBytes(32).toString('base64url');
  const config = productionLikeConfig(context.database.url, dataDir, { SERVICE_TOKEN: serviceToken });
  const logs = new ErrorLineCounter();
  const app = await startApp(config, createLogger(config.logLevel, logs), { host: '127.0.0.1' });
  const jwt = new JwtCodec(config.jwtSecret);
  const adminToken = await jwt.sign({ userId: 'bench-admin', platformAdmin: true }, '4h');
  return {
    app,
    url: app.url,
    serviceToken,
    jwt,
    adminToken,
    logs,
    async createWorkspace(name: string) {
      const { createWorkspace } = await graphqlOrThrow<{ createWorkspace: { id: string } }>(
        app.url,
        'mutation($n: String!) { createWorkspace(name: $n, plan: ENTERPRISE) { id } }',
        { n: name },
        adminToken,
      );
      const ownerId = `bench-owner-${createWorkspace.id.slice(0, 8)}`;
      await graphqlOrThrow(
        app.url,
        'mutation($w: ID!, $u: ID!) { addMember(workspaceId: $w, userId: $u, role: OWNER) { userId } }',
        { w: createWorkspace.id, u: ownerId },
        adminToken,
      );
      return { id: createWorkspace.id, ownerToken: await jwt.sign({ userId: ownerId, platformAdmin: false }, '4h') };
    },
    async stop() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
