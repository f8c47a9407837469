import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Allow } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { SetTierPriceArgs } from './tier-price.args';
import { TierPriceType } from './tier-price.type';

@Resolver(() => TierPriceType)
export class TierPriceResolver {
  @Query(() => [TierPriceType], { description: 'every price row, history and scheduled, by tier then newest first' })
  @Allow('read', 'TierPrice')
  async tierPrices(@Ctx() ctx: GraphQLContext): Promise<TierPriceType[]> {
    return (await ctx.services.tierPrices.list()).map((entity) => TierPriceType.from(entity));
  }

  @Mutation(() => TierPriceType, { description: 'platform admins' })
  @Allow('manage', 'TierPrice')
  async setTierPrice(@Args() args: SetTierPriceArgs, @Ctx() ctx: GraphQLContext): Promise<TierPriceType> {
    const entity = await ctx.services.tierPrices.set(args.tier, args.inputMicrosPerMillionTokens, args.outputMicrosPerMillionTokens, args.effectiveFrom);
    return TierPriceType.from(entity);
  }
}
