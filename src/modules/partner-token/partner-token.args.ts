import { ArgsType, Field } from 'type-graphql';
import { Length } from 'class-validator';
import { WorkspaceIdArgs } from '../workspace/workspace.args';

@ArgsType()
export class CreatePartnerTokenArgs extends WorkspaceIdArgs {
  @Field()
  @Length(1, 100)
  name: string;
}
