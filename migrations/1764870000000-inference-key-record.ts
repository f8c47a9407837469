import { MigrationInterface, QueryRunner, Table, TableColumn } from 'typeorm';
import { exactTextCollation } from './exact-text-collation';

/** Everything readable about the key moves out of the secrets blob's row into its own (issue 9). */
const KEY_COLUMNS = [
  'openrouter_masked_hint',
  'openrouter_status',
  'openrouter_limit_micros',
  'openrouter_limit_remaining_micros',
  'openrouter_is_free_tier',
  'openrouter_last_checked_at',
  'last_refusal_model',
  'last_refusal_reason',
  'last_refusal_at',
  'openrouter_next_check_at',
  'recheck_lease_owner',
  'recheck_lease_until',
  'recheck_failures',
  'updated_by',
];

/**
 * `inference_key`: what members see of the workspace's OpenRouter key and its health, one row while
 * a key is configured; `tenant_secret` keeps the ciphertext, its key id and its version. Every blob
 * stored so far holds a key, and the record takes the blob's `updated_at` as its version.
 */
export class InferenceKeyRecord1764870000000 implements MigrationInterface {
  name = 'InferenceKeyRecord1764870000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'inference_key',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'openrouter_masked_hint', type: 'varchar', length: '16' },
          { name: 'openrouter_status', type: 'varchar', length: '20', isNullable: true },
          { name: 'openrouter_limit_micros', type: 'bigint', isNullable: true },
          { name: 'openrouter_limit_remaining_micros', type: 'bigint', isNullable: true },
          { name: 'openrouter_is_free_tier', type: 'smallint', isNullable: true },
          { name: 'openrouter_last_checked_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'last_refusal_model', type: 'varchar', length: '200', isNullable: true },
          { name: 'last_refusal_reason', type: 'varchar', length: '500', isNullable: true },
          { name: 'last_refusal_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'openrouter_next_check_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'recheck_lease_owner', type: 'varchar', length: '64', isNullable: true },
          { name: 'recheck_lease_until', type: 'datetime', precision: 3, isNullable: true },
          { name: 'recheck_failures', type: 'integer', default: 0 },
          { name: 'updated_by', type: 'varchar', length: '191', isNullable: true },
          { name: 'updated_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await exactTextCollation(queryRunner, ['inference_key']);
    const columns = [...KEY_COLUMNS, 'workspace_id', 'updated_at'].join(', ');
    await queryRunner.query(`INSERT INTO inference_key (${columns}) SELECT ${columns} FROM tenant_secret WHERE openrouter_masked_hint IS NOT NULL`);
    await queryRunner.dropColumns('tenant_secret', KEY_COLUMNS);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('tenant_secret', [
      new TableColumn({ name: 'openrouter_masked_hint', type: 'varchar', length: '16', isNullable: true }),
      new TableColumn({ name: 'openrouter_status', type: 'varchar', length: '20', isNullable: true }),
      new TableColumn({ name: 'openrouter_limit_micros', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'openrouter_limit_remaining_micros', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'openrouter_is_free_tier', type: 'smallint', isNullable: true }),
      new TableColumn({ name: 'openrouter_last_checked_at', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'last_refusal_model', type: 'varchar', length: '200', isNullable: true }),
      new TableColumn({ name: 'last_refusal_reason', type: 'varchar', length: '500', isNullable: true }),
      new TableColumn({ name: 'last_refusal_at', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'openrouter_next_check_at', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'recheck_lease_owner', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'recheck_lease_until', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'recheck_failures', type: 'integer', default: 0 }),
      new TableColumn({ name: 'updated_by', type: 'varchar', length: '191', isNullable: true }),
    ]);
    // One correlated subquery per column: the same statement on SQLite, MySQL and MariaDB.
    const assignments = KEY_COLUMNS.map((column) => `${column} = (SELECT k.${column} FROM inference_key k WHERE k.workspace_id = tenant_secret.workspace_id)`);
    await queryRunner.query(`UPDATE tenant_secret SET ${assignments.join(', ')} WHERE workspace_id IN (SELECT workspace_id FROM inference_key)`);
    await queryRunner.dropTable('inference_key');
  }
}
