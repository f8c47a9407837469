import { Field, ID, ObjectType } from 'type-graphql';
import { ByokFallback } from '../inference-key/inference-key.enums';
import { ModelTier, Plan } from './workspace.enums';

@ObjectType('Workspace')
export class WorkspaceType {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => Plan)
  plan: Plan;

  @Field(() => ModelTier)
  defaultTier: ModelTier;

  @Field(() => ByokFallback, {
    description: "what the gateway does when OpenRouter refuses the workspace's key (default NONE)",
  })
  byokFallback: ByokFallback;

  @Field()
  createdAt: Date;
}
