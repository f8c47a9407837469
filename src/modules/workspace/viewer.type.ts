import { Field, ID, ObjectType } from 'type-graphql';
import { MemberType } from './member.type';

@ObjectType('Viewer')
export class ViewerType {
  @Field(() => ID, { nullable: true })
  userId: string | null;

  @Field()
  platformAdmin: boolean;

  @Field(() => [MemberType])
  memberships: MemberType[];
}
