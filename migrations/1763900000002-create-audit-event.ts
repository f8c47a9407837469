import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

export class CreateAuditEvent1763900000002 implements MigrationInterface {
  name = 'CreateAuditEvent1763900000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'audit_event',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'action', type: 'varchar', length: '32' },
          { name: 'actor_user_id', type: 'varchar', length: '191', isNullable: true },
          { name: 'masked_hint', type: 'varchar', length: '16', isNullable: true },
          { name: 'detail', type: 'varchar', length: '255', isNullable: true },
          { name: 'at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createIndex(
      'audit_event',
      new TableIndex({ name: 'idx_audit_event_workspace_at', columnNames: ['workspace_id', 'at', 'id'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('audit_event');
  }
}
