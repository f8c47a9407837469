import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { WebhookDeliveryEntity } from './webhook-delivery.entity';
import type { WebhookEndpointEntity } from './webhook-endpoint.entity';

@ObjectType('WebhookEndpoint')
export class WebhookEndpointType {
  @Field(() => ID)
  id: string;

  @Field()
  url: string;

  @Field(() => [String], { nullable: true, description: 'null: every event' })
  events: string[] | null;

  @Field()
  enabled: boolean;

  @Field(() => String, { nullable: true })
  disabledReason: string | null;

  @Field()
  createdAt: Date;

  static from(entity: WebhookEndpointEntity): WebhookEndpointType {
    return Object.assign(new WebhookEndpointType(), {
      id: entity.id,
      url: entity.url,
      events: entity.events === null ? null : (JSON.parse(entity.events) as string[]),
      enabled: entity.enabled,
      disabledReason: entity.disabledReason,
      createdAt: entity.createdAt,
    });
  }
}

@ObjectType('CreatedWebhookEndpoint')
export class CreatedWebhookEndpoint {
  @Field({ description: 'whsec_ + base64, shown once' })
  secret: string;

  @Field(() => WebhookEndpointType)
  endpoint: WebhookEndpointType;
}

@ObjectType('WebhookDelivery')
export class WebhookDeliveryType {
  @Field(() => ID)
  id: string;

  @Field()
  eventType: string;

  @Field(() => Int)
  attempts: number;

  @Field(() => Int, { nullable: true })
  lastStatus: number | null;

  @Field(() => Date, { nullable: true })
  deliveredAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'null once delivered or given up' })
  nextAttemptAt: Date | null;

  static from(entity: WebhookDeliveryEntity): WebhookDeliveryType {
    return Object.assign(new WebhookDeliveryType(), {
      id: entity.id,
      eventType: entity.eventType,
      attempts: entity.attempts,
      lastStatus: entity.lastStatus,
      deliveredAt: entity.deliveredAt,
      nextAttemptAt: entity.nextAttemptAt,
    });
  }
}
