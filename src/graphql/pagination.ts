import { Field, ObjectType } from 'type-graphql';
import { badUserInput } from '../errors/app-error';

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

/** A keyset position: the sort timestamp and the id that breaks ties. Opaque to clients. */
export interface KeysetCursor {
  at: Date;
  id: string;
}

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify([cursor.at.toISOString(), cursor.id])).toString('base64url');
}

export function decodeCursor(value: string): KeysetCursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[];
    const date = new Date(String(at));
    if (typeof at !== 'string' || typeof id !== 'string' || Number.isNaN(date.getTime())) throw new Error('shape');
    return { at: date, id };
  } catch {
    throw badUserInput('Invalid cursor');
  }
}

export const MAX_PAGE_SIZE = 100;

export function pageSizeOrThrow(first: number | undefined | null): number {
  const size = first ?? 50;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badUserInput(`first must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  return size;
}
