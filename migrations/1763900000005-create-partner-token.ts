import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

export class CreatePartnerToken1763900000005 implements MigrationInterface {
  name = 'CreatePartnerToken1763900000005';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'partner_token',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'token_hash', type: 'varchar', length: '64' },
          { name: 'created_by', type: 'varchar', length: '191', isNullable: true },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'revoked_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'last_used_at', type: 'datetime', precision: 3, isNullable: true },
        ],
        foreignKeys: [
          { columnNames: ['workspace_id'], referencedTableName: 'workspace', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'CASCADE' },
        ],
      }),
    );
    await queryRunner.createIndex('partner_token', new TableIndex({ name: 'idx_partner_token_workspace', columnNames: ['workspace_id'] }));
    await queryRunner.createIndex('partner_token', new TableIndex({ name: 'uq_partner_token_hash', columnNames: ['token_hash'], isUnique: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('partner_token');
  }
}
