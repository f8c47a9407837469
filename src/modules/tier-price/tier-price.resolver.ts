import { Args, Mutation, Query, Resolver } from 'type-graphql';
import { Allow } from '../../graphql/allow.decorator';
import { SetTierPriceArgs } from './tier-price.args';
import { TierPriceType } from './tier-price.type';
import type { TierPriceService } from './tier-price.service';

@Resolver(() => TierPriceType)
export class TierPriceResolver {
  constructor(private readonly prices: TierPriceService) {}

  @Query(() => [TierPriceType], { description: 'every price row, history and scheduled, by tier then newest first' })
  @Allow('read', 'TierPrice')
  async tierPrices(): Promise<TierPriceType[]> {
    return (await this.prices.list()).map((entity) => TierPriceType.from(entity));
  }

  @Mutation(() => TierPriceType, { description: 'platform admins' })
  @Allow('manage', 'TierPrice')
  async setTierPrice(@Args() args: SetTierPriceArgs): Promise<TierPriceType> {
    const entity = await this.prices.set(args.tier, args.inputMicrosPerMillionTokens, args.outputMicrosPerMillionTokens, args.effectiveFrom);
    return TierPriceType.from(entity);
  }
}
