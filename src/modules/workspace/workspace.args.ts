import { ArgsType, Field, ID } from 'type-graphql';
import { IsNotEmpty, Length, MaxLength } from 'class-validator';
import { ByokFallback } from '../inference-key/inference-key.enums';
import { ModelTier, Plan } from './workspace.enums';
import { MemberRole } from '../../auth/member-role';

@ArgsType()
export class WorkspaceIdArgs {
  @Field(() => ID)
  @MaxLength(64)
  workspaceId: string;
}

@ArgsType()
export class WorkspaceByIdArgs {
  @Field(() => ID)
  @MaxLength(64)
  id: string;
}

@ArgsType()
export class CreateWorkspaceArgs {
  @Field()
  @Length(1, 200)
  name: string;

  @Field(() => Plan)
  plan: Plan;

  @Field(() => ModelTier, { nullable: true, defaultValue: ModelTier.BALANCED })
  defaultTier?: ModelTier | null;
}

@ArgsType()
export class ChangePlanArgs extends WorkspaceIdArgs {
  @Field(() => Plan)
  plan: Plan;
}

@ArgsType()
export class AddMemberArgs extends WorkspaceIdArgs {
  @Field(() => ID)
  @IsNotEmpty()
  @MaxLength(191)
  userId: string;

  @Field(() => MemberRole)
  role: MemberRole;
}

@ArgsType()
export class RemoveMemberArgs extends WorkspaceIdArgs {
  @Field(() => ID)
  @MaxLength(191)
  userId: string;
}

@ArgsType()
export class SetByokFallbackArgs extends WorkspaceIdArgs {
  @Field(() => ByokFallback)
  fallback: ByokFallback;
}
