import { AiBudgetCrossingEntity, AiBudgetEntity } from '../modules/budget/ai-budget.entity';
import { WebhookDeliveryEntity } from '../modules/webhook/webhook-delivery.entity';
import { WebhookEndpointEntity } from '../modules/webhook/webhook-endpoint.entity';
import { WebhookEventEntity } from '../modules/webhook/webhook-event.entity';
import { AuditEventEntity } from '../modules/audit/audit-event.entity';
import { InferenceKeyRecordEntity } from '../modules/inference-key/inference-key-record.entity';
import { KeyVerificationAttemptEntity } from '../modules/inference-key/key-verification-attempt.entity';
import { PartnerTokenEntity } from '../modules/partner-token/partner-token.entity';
import { TierPriceEntity } from '../modules/tier-price/tier-price.entity';
import { UsageRecordEntity } from '../modules/usage/usage-record.entity';
import { RefusedCallCounterEntity } from '../modules/usage/refused-call-counter.entity';
import { UsageMemberRollupEntity } from '../modules/usage/usage-member-rollup.entity';
import { UsageRollupEntity } from '../modules/usage/usage-rollup.entity';
import { TenantSecretEntity } from '../modules/secrets/tenant-secret.entity';
import { MemberEntity } from '../modules/workspace/member.entity';
import { WorkspaceEntity } from '../modules/workspace/workspace.entity';

export const entities = [
  WorkspaceEntity,
  MemberEntity,
  TenantSecretEntity,
  InferenceKeyRecordEntity,
  AuditEventEntity,
  TierPriceEntity,
  UsageRecordEntity,
  UsageRollupEntity,
  PartnerTokenEntity,
  KeyVerificationAttemptEntity,
  UsageMemberRollupEntity,
  RefusedCallCounterEntity,
  AiBudgetEntity,
  AiBudgetCrossingEntity,
  WebhookEndpointEntity,
  WebhookEventEntity,
  WebhookDeliveryEntity,
];
