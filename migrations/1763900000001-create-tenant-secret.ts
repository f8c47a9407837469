import { MigrationInterface, QueryRunner, Table } from 'typeorm';

export class CreateTenantSecret1763900000001 implements MigrationInterface {
  name = 'CreateTenantSecret1763900000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'tenant_secret',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'ciphertext', type: 'blob' },
          { name: 'key_id', type: 'varchar', length: '8' },
          { name: 'openrouter_masked_hint', type: 'varchar', length: '16', isNullable: true },
          { name: 'openrouter_status', type: 'varchar', length: '20', isNullable: true },
          { name: 'openrouter_limit_micros', type: 'bigint', isNullable: true },
          { name: 'openrouter_limit_remaining_micros', type: 'bigint', isNullable: true },
          { name: 'openrouter_is_free_tier', type: 'smallint', isNullable: true },
          { name: 'openrouter_last_checked_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'updated_by', type: 'varchar', length: '191', isNullable: true },
          { name: 'updated_at', type: 'datetime', precision: 3 },
        ],
        foreignKeys: [
          { columnNames: ['workspace_id'], referencedTableName: 'workspace', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'CASCADE' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('tenant_secret');
  }
}
