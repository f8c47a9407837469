import { Args, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { AiInferenceKeyType } from '../inference-key/ai-inference-key.type';
import { MemberType } from './member.type';
import { AddMemberArgs, ChangePlanArgs, CreateWorkspaceArgs, RemoveMemberArgs, SetByokFallbackArgs, WorkspaceByIdArgs } from './workspace.args';
import { WorkspaceEntity } from './workspace.entity';
import { WorkspaceType } from './workspace.type';
import type { InferenceKeyService } from '../inference-key/inference-key.service';
import type { WorkspaceService } from './workspace.service';

@Resolver(() => WorkspaceType)
export class WorkspaceResolver {
  constructor(
    private readonly workspaces: WorkspaceService,
    private readonly inferenceKeys: InferenceKeyService,
  ) {}

  @Query(() => WorkspaceType)
  @Allow('read', 'Workspace', (args) => args.id)
  workspace(@Args() { id }: WorkspaceByIdArgs, @Ctx() ctx: GraphQLContext): Promise<WorkspaceEntity> {
    return this.workspaces.getOrThrow(ctx, id);
  }

  @FieldResolver(() => AiInferenceKeyType)
  aiInferenceKey(@Root() workspace: WorkspaceEntity, @Ctx() ctx: GraphQLContext): Promise<AiInferenceKeyType> {
    return this.inferenceKeys.status(ctx, workspace);
  }

  @Mutation(() => WorkspaceType, { description: 'platform admins' })
  @Allow('create', 'Workspace')
  createWorkspace(@Args() args: CreateWorkspaceArgs, @Ctx() ctx: GraphQLContext): Promise<WorkspaceEntity> {
    return this.workspaces.create(ctx, args);
  }

  @Mutation(() => WorkspaceType, {
    description: 'platform admins, or the billing system through its admin token; leaving ENTERPRISE deletes the key',
  })
  @Allow('update', 'Plan', byWorkspaceIdArg)
  changePlan(@Args() { workspaceId, plan }: ChangePlanArgs, @Ctx() ctx: GraphQLContext): Promise<WorkspaceEntity> {
    return this.workspaces.changePlan(ctx, workspaceId, plan);
  }

  @Mutation(() => MemberType, { description: "platform admins, or the workspace's OWNER or ADMIN" })
  @Allow('manage', 'Member', byWorkspaceIdArg)
  async addMember(@Args() { workspaceId, userId, role }: AddMemberArgs, @Ctx() ctx: GraphQLContext): Promise<MemberType> {
    return MemberType.from(await this.workspaces.addMember(ctx, workspaceId, userId, role));
  }

  @Mutation(() => Boolean)
  @Allow('manage', 'Member', byWorkspaceIdArg)
  removeMember(@Args() { workspaceId, userId }: RemoveMemberArgs, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return this.workspaces.removeMember(ctx, workspaceId, userId);
  }

  @Mutation(() => WorkspaceType, { description: 'Manage billing holders' })
  @Allow('update', 'ByokFallback', byWorkspaceIdArg)
  setByokFallback(@Args() { workspaceId, fallback }: SetByokFallbackArgs, @Ctx() ctx: GraphQLContext): Promise<WorkspaceEntity> {
    return this.workspaces.setByokFallback(ctx, workspaceId, fallback);
  }
}
