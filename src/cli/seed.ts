import { randomUUID } from 'node:crypto';
import { JwtCodec } from '../auth/jwt';
import { MemberEntity } from '../modules/workspace/member.entity';
import { WorkspaceEntity } from '../modules/workspace/workspace.entity';
import { ModelTier, Plan } from '../modules/workspace/workspace.enums';
import { MemberRole } from '../auth/member-role';
import { ByokFallback } from '../modules/inference-key/inference-key.enums';
import { configOrExit, openDatabase } from './cli-support';

/** npm run seed: a demo Enterprise workspace with an owner, a billing manager and a member. */
async function main(): Promise<void> {
  const loaded = configOrExit();
  const dataSource = await openDatabase(loaded);
  try {
    await dataSource.runMigrations({ transaction: 'each' });
    const workspace = Object.assign(new WorkspaceEntity(), {
      id: randomUUID(),
      name: 'Demo Enterprise',
      plan: Plan.ENTERPRISE,
      defaultTier: ModelTier.BALANCED,
      byokFallback: ByokFallback.NONE,
      createdAt: new Date(),
    });
    const people: Array<[string, MemberRole]> = [
      ['demo-owner', MemberRole.OWNER],
      ['demo-billing', MemberRole.BILLING_MANAGER],
      ['demo-member', MemberRole.MEMBER],
    ];
    await dataSource.transaction(async (manager) => {
      await manager.insert(WorkspaceEntity, workspace);
      for (const [userId, role] of people) {
        await manager.insert(MemberEntity, { workspaceId: workspace.id, userId, role, createdAt: new Date() });
      }
    });
    const jwt = new JwtCodec(loaded.config.jwtSecret, { issuer: loaded.config.jwtIssuer, audience: loaded.config.jwtAudience });
    process.stdout.write(`workspace ${workspace.id} (${workspace.name}, ENTERPRISE)\n`);
    for (const [userId, role] of people) {
      process.stdout.write(`${role.padEnd(16)} ${userId.padEnd(14)} ${await jwt.sign({ userId, platformAdmin: false })}\n`);
    }
    process.stdout.write(`${'PLATFORM ADMIN'.padEnd(16)} ${'demo-admin'.padEnd(14)} ${await jwt.sign({ userId: 'demo-admin', platformAdmin: true })}\n`);
  } finally {
    await dataSource.destroy();
  }
}

void main();
