import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from './workspace.entity';
import { MemberRole } from '../../auth/member-role';

@Entity('member')
@Index('idx_member_user', ['userId'])
export class MemberEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 191 })
  userId: string;

  @Column({ type: 'varchar', length: 20 })
  role: MemberRole;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
