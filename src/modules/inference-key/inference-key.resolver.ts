import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { AiInferenceKeyType } from './ai-inference-key.type';
import { KeyArgs } from './inference-key.args';
import { KeyCheckType } from './key-check.type';

@Resolver(() => AiInferenceKeyType)
export class InferenceKeyResolver {
  @Query(() => AiInferenceKeyType)
  @Allow('read', 'AiInferenceKey', byWorkspaceIdArg)
  async aiInferenceKey(@Args() { workspaceId }: WorkspaceIdArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    const workspace = await ctx.services.workspaces.getOrThrow(ctx, workspaceId);
    return ctx.services.inferenceKeys.status(ctx, workspace);
  }

  @Mutation(() => AiInferenceKeyType, { description: 'Manage billing holders of an ENTERPRISE workspace' })
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  saveKey(@Args() { workspaceId, key }: KeyArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return ctx.services.inferenceKeys.save(ctx, workspaceId, key);
  }

  @Mutation(() => AiInferenceKeyType)
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  replaceKey(@Args() { workspaceId, key }: KeyArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return ctx.services.inferenceKeys.replace(ctx, workspaceId, key);
  }

  @Mutation(() => KeyCheckType, { description: 'Manage billing holders: checks a key with OpenRouter without saving it; at most 10 a minute per workspace' })
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  verifyKey(@Args() { workspaceId, key }: KeyArgs, @Ctx() ctx: GraphQLContext): Promise<KeyCheckType> {
    return ctx.services.keyVerification.verify(workspaceId, key);
  }

  @Mutation(() => AiInferenceKeyType)
  @Allow('manage', 'AiInferenceKey', byWorkspaceIdArg)
  removeKey(@Args() { workspaceId }: WorkspaceIdArgs, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return ctx.services.inferenceKeys.remove(ctx, workspaceId);
  }
}
