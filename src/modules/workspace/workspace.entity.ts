import { Column, Entity, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { ByokFallback } from '../inference-key/inference-key.enums';
import { ModelTier, Plan } from './workspace.enums';

@Entity('workspace')
export class WorkspaceEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  /** Written only by WorkspaceService.changePlan, which runs the plan-change hooks. */
  @Column({ type: 'varchar', length: 16 })
  plan: Plan;

  @Column({ name: 'default_tier', type: 'varchar', length: 16 })
  defaultTier: ModelTier;

  @Column({ name: 'byok_fallback', type: 'varchar', length: 16, default: 'NONE' })
  byokFallback: ByokFallback;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;
}
