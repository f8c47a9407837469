import { Ctx, Query, Resolver } from 'type-graphql';
import { Allow } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { MemberType } from './member.type';
import { ViewerType } from './viewer.type';

@Resolver(() => ViewerType)
export class ViewerResolver {
  @Query(() => ViewerType)
  @Allow('read', 'Viewer')
  async viewer(@Ctx() ctx: GraphQLContext): Promise<ViewerType> {
    const memberships = await ctx.auth.memberships();
    return Object.assign(new ViewerType(), {
      userId: ctx.auth.userId ?? null,
      platformAdmin: ctx.auth.isPlatformAdmin,
      memberships: memberships.map((membership) => MemberType.from({ ...membership, userId: ctx.auth.userId as string })),
    });
  }
}
