import { CreateWorkspaceAndMember1763900000000 } from './1763900000000-create-workspace-and-member';
import { CreateTenantSecret1763900000001 } from './1763900000001-create-tenant-secret';
import { CreateAuditEvent1763900000002 } from './1763900000002-create-audit-event';
import { CreateTierPrice1763900000003 } from './1763900000003-create-tier-price';
import { CreateUsageRecordAndRollup1763900000004 } from './1763900000004-create-usage-record-and-rollup';
import { CreatePartnerToken1763900000005 } from './1763900000005-create-partner-token';
import { ExactTextComparison1763900000006 } from './1763900000006-exact-text-comparison';
import { AuditMemberChanges1764820000000 } from './1764820000000-audit-member-changes';
import { UsageOutcome1764825000000 } from './1764825000000-usage-outcome';
import { KeyLastRefusal1764830000000 } from './1764830000000-key-last-refusal';
import { UsageRecordReconciliation1764860000000 } from './1764860000000-usage-record-reconciliation';
import { KeyHealth1764860000001 } from './1764860000001-key-health';
import { MemberRollupAndRefusedCalls1764860000002 } from './1764860000002-member-rollup-and-refused-calls';
import { CreateAiBudget1764850000000 } from './1764850000000-create-ai-budget';
import { CreateWebhooks1764850000001 } from './1764850000001-create-webhooks';
import { InferenceKeyRecord1764870000000 } from './1764870000000-inference-key-record';

/** Every migration, in order. Listed explicitly so the same list serves ts (tests) and compiled js. */
export const migrations = [
  CreateWorkspaceAndMember1763900000000,
  CreateTenantSecret1763900000001,
  CreateAuditEvent1763900000002,
  CreateTierPrice1763900000003,
  CreateUsageRecordAndRollup1763900000004,
  CreatePartnerToken1763900000005,
  ExactTextComparison1763900000006,
  AuditMemberChanges1764820000000,
  UsageOutcome1764825000000,
  KeyLastRefusal1764830000000,
  CreateAiBudget1764850000000,
  CreateWebhooks1764850000001,
  UsageRecordReconciliation1764860000000,
  KeyHealth1764860000001,
  MemberRollupAndRefusedCalls1764860000002,
  InferenceKeyRecord1764870000000,
];
