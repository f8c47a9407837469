import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';

/** One verifyKey call, kept for a minute: the rate limit counts them across every worker. */
@Entity('key_verification_attempt')
@Index('idx_key_verification_attempt_time', ['workspaceId', 'attemptedAt'])
export class KeyVerificationAttemptEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column(timestampColumn({ name: 'attempted_at' }))
  attemptedAt: Date;
}
