import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

export class CreateWorkspaceAndMember1763900000000 implements MigrationInterface {
  name = 'CreateWorkspaceAndMember1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'workspace',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'plan', type: 'varchar', length: '16' },
          { name: 'default_tier', type: 'varchar', length: '16' },
          { name: 'byok_fallback', type: 'varchar', length: '16', default: "'NONE'" },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'member',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '191', isPrimary: true },
          { name: 'role', type: 'varchar', length: '20' },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
        foreignKeys: [
          { columnNames: ['workspace_id'], referencedTableName: 'workspace', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'CASCADE' },
        ],
      }),
    );
    await queryRunner.createIndex('member', new TableIndex({ name: 'idx_member_user', columnNames: ['user_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('member');
    await queryRunner.dropTable('workspace');
  }
}
