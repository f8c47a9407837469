import { ArgsType, Field, Int } from 'type-graphql';
import { WorkspaceIdArgs } from '../workspace/workspace.args';

@ArgsType()
export class AuditEventsArgs extends WorkspaceIdArgs {
  @Field(() => Int, { nullable: true, defaultValue: 50 })
  first?: number;

  @Field(() => String, { nullable: true })
  after?: string;
}
