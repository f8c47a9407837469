import { ArgsType, Field, ID, Int } from 'type-graphql';
import { ArrayMaxSize, MaxLength } from 'class-validator';
import { WorkspaceIdArgs } from '../workspace/workspace.args';

@ArgsType()
export class CreateWebhookEndpointArgs extends WorkspaceIdArgs {
  @Field()
  @MaxLength(2048)
  url: string;

  @Field(() => [String], { nullable: true, description: 'null: every event' })
  @ArrayMaxSize(20)
  events?: string[] | null;
}

@ArgsType()
export class WebhookEndpointArgs extends WorkspaceIdArgs {
  @Field(() => ID)
  @MaxLength(64)
  id: string;
}

@ArgsType()
export class SetWebhookEndpointEnabledArgs extends WebhookEndpointArgs {
  @Field()
  enabled: boolean;
}

@ArgsType()
export class WebhookDeliveriesArgs extends WorkspaceIdArgs {
  @Field(() => ID)
  @MaxLength(64)
  endpointId: string;

  @Field(() => Int, { nullable: true, defaultValue: 50 })
  first?: number | null;
}
