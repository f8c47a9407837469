import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { CreateWebhookEndpointArgs, SetWebhookEndpointEnabledArgs, WebhookDeliveriesArgs, WebhookEndpointArgs } from './webhook.args';
import { CreatedWebhookEndpoint, WebhookDeliveryType, WebhookEndpointType } from './webhook.types';
import type { WebhookService } from './webhook.service';

const DEFAULT_DELIVERIES_PAGE = 50;

function created({ secret, endpoint }: Awaited<ReturnType<WebhookService['create']>>): CreatedWebhookEndpoint {
  return Object.assign(new CreatedWebhookEndpoint(), { secret, endpoint: WebhookEndpointType.from(endpoint) });
}

@Resolver(() => WebhookEndpointType)
export class WebhookResolver {
  constructor(private readonly webhooks: WebhookService) {}

  @Query(() => [WebhookEndpointType])
  @Allow('read', 'WebhookEndpoint', byWorkspaceIdArg)
  async webhookEndpoints(@Args() { workspaceId }: WorkspaceIdArgs): Promise<WebhookEndpointType[]> {
    return (await this.webhooks.list(workspaceId)).map((entity) => WebhookEndpointType.from(entity));
  }

  @Query(() => [WebhookDeliveryType], { description: 'newest first' })
  @Allow('read', 'WebhookEndpoint', byWorkspaceIdArg)
  async webhookDeliveries(@Args() { workspaceId, endpointId, first }: WebhookDeliveriesArgs): Promise<WebhookDeliveryType[]> {
    return (await this.webhooks.deliveries(workspaceId, endpointId, first ?? DEFAULT_DELIVERIES_PAGE)).map((entity) => WebhookDeliveryType.from(entity));
  }

  @Mutation(() => CreatedWebhookEndpoint, { description: 'Manage billing holders; the secret is shown once' })
  @Allow('manage', 'WebhookEndpoint', byWorkspaceIdArg)
  async createWebhookEndpoint(@Args() { workspaceId, url, events }: CreateWebhookEndpointArgs, @Ctx() ctx: GraphQLContext): Promise<CreatedWebhookEndpoint> {
    return created(await this.webhooks.create(ctx, workspaceId, url, events));
  }

  @Mutation(() => WebhookEndpointType)
  @Allow('manage', 'WebhookEndpoint', byWorkspaceIdArg)
  async setWebhookEndpointEnabled(@Args() { workspaceId, id, enabled }: SetWebhookEndpointEnabledArgs): Promise<WebhookEndpointType> {
    return WebhookEndpointType.from(await this.webhooks.setEnabled(workspaceId, id, enabled));
  }

  @Mutation(() => CreatedWebhookEndpoint, { description: 'a new secret, shown once; the previous one keeps signing for 24 h' })
  @Allow('manage', 'WebhookEndpoint', byWorkspaceIdArg)
  async rotateWebhookSecret(@Args() { workspaceId, id }: WebhookEndpointArgs): Promise<CreatedWebhookEndpoint> {
    return created(await this.webhooks.rotate(workspaceId, id));
  }

  @Mutation(() => Boolean)
  @Allow('manage', 'WebhookEndpoint', byWorkspaceIdArg)
  deleteWebhookEndpoint(@Args() { workspaceId, id }: WebhookEndpointArgs): Promise<boolean> {
    return this.webhooks.delete(workspaceId, id);
  }

  @Mutation(() => Boolean, { description: 'sends a webhook.test event' })
  @Allow('manage', 'WebhookEndpoint', byWorkspaceIdArg)
  sendTestEvent(@Args() { workspaceId, id }: WebhookEndpointArgs): Promise<boolean> {
    return this.webhooks.sendTestEvent(workspaceId, id);
  }
}
