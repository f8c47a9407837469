import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { RecordIdArgs } from '../usage/usage.args';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { CreatePartnerTokenArgs } from './partner-token.args';
import { CreatedPartnerToken, PartnerTokenType } from './partner-token.type';
import type { PartnerTokenService } from './partner-token.service';

@Resolver(() => PartnerTokenType)
export class PartnerTokenResolver {
  constructor(private readonly tokens: PartnerTokenService) {}

  @Query(() => [PartnerTokenType])
  @Allow('read', 'PartnerToken', byWorkspaceIdArg)
  async partnerTokens(@Args() { workspaceId }: WorkspaceIdArgs): Promise<PartnerTokenType[]> {
    return (await this.tokens.list(workspaceId)).map((entity) => PartnerTokenType.from(entity));
  }

  @Mutation(() => CreatedPartnerToken, { description: 'Manage billing holders' })
  @Allow('manage', 'PartnerToken', byWorkspaceIdArg)
  async createPartnerToken(@Args() { workspaceId, name }: CreatePartnerTokenArgs, @Ctx() ctx: GraphQLContext): Promise<CreatedPartnerToken> {
    const { token, entity } = await this.tokens.create(ctx, workspaceId, name);
    return Object.assign(new CreatedPartnerToken(), { token, partnerToken: PartnerTokenType.from(entity) });
  }

  /** The token's workspace is known only after loading it, so the service makes the check. */
  @Mutation(() => PartnerTokenType)
  async revokePartnerToken(@Args() { id }: RecordIdArgs, @Ctx() ctx: GraphQLContext): Promise<PartnerTokenType> {
    return PartnerTokenType.from(await this.tokens.revoke(ctx, id));
  }
}
