import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintColumn, timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import { BudgetAction } from './budget.enums';

/** A workspace's monthly cap on everything it pays for AI; at most one per workspace. */
@Entity('ai_budget')
export class AiBudgetEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column(bigintColumn({ name: 'monthly_limit_micros' }))
  monthlyLimitMicros: number;

  /** percentages of the limit, ascending, comma-separated */
  @Column({ type: 'varchar', length: 100 })
  thresholds: string;

  @Column({ type: 'varchar', length: 16 })
  action: BudgetAction;

  @Column({ name: 'updated_by', type: 'varchar', length: 191, nullable: true })
  updatedBy: string | null;

  @Column(timestampColumn({ name: 'updated_at' }))
  updatedAt: Date;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}

/** A threshold crossed in a month: its primary key makes the event happen once, whichever worker sees it first. */
@Entity('ai_budget_crossing')
export class AiBudgetCrossingEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  /** YYYY-MM, UTC */
  @PrimaryColumn({ type: 'varchar', length: 7 })
  month: string;

  @PrimaryColumn({ type: 'smallint' })
  threshold: number;

  @Column(bigintColumn({ name: 'spent_micros' }))
  spentMicros: number;

  @Column(timestampColumn({ name: 'crossed_at' }))
  crossedAt: Date;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
