import { Field, ID, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import type { InferenceKeyRecordEntity } from './inference-key-record.entity';
import type { WorkspaceEntity } from '../workspace/workspace.entity';
import { Plan } from '../workspace/workspace.enums';
import { KeyStatus } from './inference-key.enums';

@ObjectType('KeyRefusal', { description: "A model OpenRouter refused on the workspace's key, its status unchanged: the key works for other models." })
export class KeyRefusalType {
  @Field({ description: 'the model the refused call asked for' })
  model: string;

  @Field({ description: 'why, and what a billing manager can do about it' })
  reason: string;

  @Field(() => Date)
  at: Date;
}

@ObjectType('AiInferenceKey', {
  description: 'What a workspace member may know about its OpenRouter key. The key itself is never returned.',
})
export class AiInferenceKeyType {
  @Field(() => ID)
  workspaceId: string;

  @Field()
  configured: boolean;

  @Field(() => String, { nullable: true, description: 'first 8 characters, an ellipsis, the last 4; null when no key is configured' })
  maskedHint: string | null;

  @Field({ description: 'the workspace is on ENTERPRISE' })
  eligible: boolean;

  @Field({ description: 'the viewer holds Manage billing on this workspace' })
  canManage: boolean;

  @Field(() => Date, { nullable: true })
  updatedAt: Date | null;

  @Field(() => ID, { nullable: true })
  updatedBy: string | null;

  @Field(() => KeyStatus, { nullable: true, description: "null when not configured; set by the live check on save and by the gateway's calls" })
  status: KeyStatus | null;

  @Field(() => SafeIntScalar, { nullable: true, description: "from OpenRouter's GET /key at the last check; null when unknown or unlimited" })
  limitMicros: number | null;

  @Field(() => SafeIntScalar, { nullable: true })
  limitRemainingMicros: number | null;

  @Field(() => Boolean, { nullable: true })
  isFreeTier: boolean | null;

  @Field(() => Date, { nullable: true })
  lastCheckedAt: Date | null;

  @Field(() => KeyRefusalType, { nullable: true, description: 'the last model refused on this key (no allowed provider, key restrictions); null when none since the key was saved' })
  lastRefusal: KeyRefusalType | null;

  /** Built from the key's record: reading the status never decrypts. `row` null: no key configured. */
  static from(workspace: WorkspaceEntity, row: InferenceKeyRecordEntity | null, canManage: boolean): AiInferenceKeyType {
    const configured = row !== null;
    return Object.assign(new AiInferenceKeyType(), {
      workspaceId: workspace.id,
      configured,
      maskedHint: configured ? row!.openrouterMaskedHint : null,
      eligible: workspace.plan === Plan.ENTERPRISE,
      canManage,
      updatedAt: configured ? row!.updatedAt : null,
      updatedBy: configured ? row!.updatedBy : null,
      status: configured ? ((row!.openrouterStatus as KeyStatus | null) ?? null) : null,
      limitMicros: configured ? row!.openrouterLimitMicros : null,
      limitRemainingMicros: configured ? row!.openrouterLimitRemainingMicros : null,
      isFreeTier: configured ? row!.openrouterIsFreeTier : null,
      lastCheckedAt: configured ? row!.openrouterLastCheckedAt : null,
      lastRefusal: configured ? lastRefusalOf(row!) : null,
    });
  }
}

/** A refusal noted before the key was last saved or replaced was about another key. */
function lastRefusalOf(row: InferenceKeyRecordEntity): KeyRefusalType | null {
  if (!row.lastRefusalModel || !row.lastRefusalReason || !row.lastRefusalAt || row.lastRefusalAt < row.updatedAt) return null;
  return Object.assign(new KeyRefusalType(), { model: row.lastRefusalModel, reason: row.lastRefusalReason, at: row.lastRefusalAt });
}
