import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintColumn } from '../../db/columns';
import { InferencePath } from './usage.enums';

/** Calls refused (upstream, by cause, or by a budget block) per day, path and member: never usage records. */
@Entity('refused_call_counter')
export class RefusedCallCounterEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  /** UTC day, YYYY-MM-DD */
  @PrimaryColumn({ type: 'varchar', length: 10 })
  day: string;

  @PrimaryColumn({ type: 'varchar', length: 40 })
  path: InferencePath;

  /** the member on whose behalf the call was made; '' for none */
  @PrimaryColumn({ name: 'actor_key', type: 'varchar', length: 191 })
  actorKey: string;

  /** e.g. BYOK_KEY_INVALID, BYOK_OUT_OF_CREDITS, BYOK_LIMIT_EXCEEDED, BUDGET_EXCEEDED */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  cause: string;

  @Column(bigintColumn())
  refused: number;
}
