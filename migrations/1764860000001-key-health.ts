import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

/**
 * Key health (SPEC.md, "Budgets, webhooks, exports, key health"): when each stored key is next
 * re-checked and which worker holds the lease to do it, and the verifyKey attempts of the last
 * minute, counted across workers. Existing keys get no schedule: they are first re-checked one
 * interval after their last check.
 */
export class KeyHealth1764860000001 implements MigrationInterface {
  name = 'KeyHealth1764860000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('tenant_secret', [
      new TableColumn({ name: 'openrouter_next_check_at', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'recheck_lease_owner', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'recheck_lease_until', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'recheck_failures', type: 'integer', default: 0 }),
    ]);
    await queryRunner.createTable(
      new Table({
        name: 'key_verification_attempt',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'attempted_at', type: 'datetime', precision: 3 },
        ],
        indices: [new TableIndex({ name: 'idx_key_verification_attempt_time', columnNames: ['workspace_id', 'attempted_at'] })],
      }),
    );
    // Ids compared byte for byte, like every other table (1763900000006-exact-text-comparison.ts).
    const type = queryRunner.connection.options.type;
    if (type === 'mysql' || type === 'mariadb') {
      await queryRunner.query(`ALTER TABLE \`key_verification_attempt\` CONVERT TO CHARACTER SET utf8mb4 COLLATE ${type === 'mariadb' ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin'}`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('key_verification_attempt');
    await queryRunner.dropColumns('tenant_secret', ['recheck_failures', 'recheck_lease_until', 'recheck_lease_owner', 'openrouter_next_check_at']);
  }
}
