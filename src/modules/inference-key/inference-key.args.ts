import { ArgsType, Field } from 'type-graphql';
import { WorkspaceIdArgs } from '../workspace/workspace.args';

/** The key is validated by the key service, whose messages never repeat it (class-validator's would). */
@ArgsType()
export class KeyArgs extends WorkspaceIdArgs {
  @Field()
  key: string;
}
