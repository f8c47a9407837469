import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { AiInferenceKeyType } from './ai-inference-key.type';
import { KeyArgs } from './inference-key.args';
import { KeyCheckType } from './key-check.type';
import type { InferenceKeyService } from './inference-key.service';
import type { KeyVerificationService } from './key-verification.service';
import type { WorkspaceService } from '../workspace/workspace.service';

@Resolver(() => AiInferenceKeyType)
export class InferenceKeyResolver {
  constructor(
    private readonly workspaces: WorkspaceService,
    private readonly inferenceKeys: InferenceKeyService,
    private readonly keyVerification: KeyVerificationService,
  ) {}

  @Query(() => AiInferenceKeyType)
  @Allow('read', 'AiInferenceKey', byWorkspaceIdArg)
  async aiInferenceKey(@Args() { workspaceId }: WorkspaceIdArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    const workspace = await this.workspaces.getOrThrow(ctx, workspaceId);
    return this.inferenceKeys.status(ctx, workspace);
  }

  @Mutation(() => AiInferenceKeyType, { description: 'Manage billing holders of an ENTERPRISE workspace' })
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  saveKey(@Args() { workspaceId, key }: KeyArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return this.inferenceKeys.save(ctx, workspaceId, key);
  }

  @Mutation(() => AiInferenceKeyType)
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  replaceKey(@Args() { workspaceId, key }: KeyArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return this.inferenceKeys.replace(ctx, workspaceId, key);
  }

  @Mutation(() => KeyCheckType, { description: 'Manage billing holders: checks a key with OpenRouter without saving it; at most 10 a minute per workspace' })
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  verifyKey(@Args() { workspaceId, key }: KeyArgs): Promise<KeyCheckType> {
    return this.keyVerification.verify(workspaceId, key);
  }

  @Mutation(() => AiInferenceKeyType)
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  removeKey(@Args() { workspaceId }: WorkspaceIdArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return this.inferenceKeys.remove(ctx, workspaceId);
  }
}
