import { Field, ID, ObjectType } from 'type-graphql';
import type { PartnerTokenEntity } from './partner-token.entity';

@ObjectType('PartnerToken')
export class PartnerTokenType {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  workspaceId: string;

  @Field()
  name: string;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  revokedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'when the token last authenticated a request (updated at most once a minute)' })
  lastUsedAt: Date | null;

  static from(entity: PartnerTokenEntity): PartnerTokenType {
    return Object.assign(new PartnerTokenType(), {
      id: entity.id,
      workspaceId: entity.workspaceId,
      name: entity.name,
      createdAt: entity.createdAt,
      revokedAt: entity.revokedAt,
      lastUsedAt: entity.lastUsedAt,
    });
  }
}

@ObjectType('CreatedPartnerToken')
export class CreatedPartnerToken {
  @Field({ description: 'shown once; only its hash is stored' })
  token: string;

  @Field(() => PartnerTokenType)
  partnerToken: PartnerTokenType;
}
