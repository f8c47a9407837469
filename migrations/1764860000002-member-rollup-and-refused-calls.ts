import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/**
 * LLM analytics by member and refused calls (SPEC.md, "Budgets, webhooks, exports, key health").
 * `usage_member_rollup`: per-day totals by the member on whose behalf calls ran (`actor_key` '' for
 * calls without one), kept beside `usage_rollup` so grouping by member costs days, not calls; it is
 * filled from the existing records here. `refused_call_counter`: calls refused upstream or blocked
 * by a budget, per day, path, member and cause: they are never usage records.
 */
export class MemberRollupAndRefusedCalls1764860000002 implements MigrationInterface {
  name = 'MemberRollupAndRefusedCalls1764860000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'usage_member_rollup',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'day', type: 'varchar', length: '10', isPrimary: true },
          { name: 'actor_key', type: 'varchar', length: '191', isPrimary: true },
          { name: 'shard', type: 'smallint', isPrimary: true },
          { name: 'calls', type: 'bigint' },
          { name: 'input_tokens', type: 'bigint' },
          { name: 'output_tokens', type: 'bigint' },
          { name: 'billed_micros', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'refused_call_counter',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'day', type: 'varchar', length: '10', isPrimary: true },
          { name: 'path', type: 'varchar', length: '40', isPrimary: true },
          { name: 'actor_key', type: 'varchar', length: '191', isPrimary: true },
          { name: 'cause', type: 'varchar', length: '40', isPrimary: true },
          { name: 'refused', type: 'bigint' },
        ],
      }),
    );
    const type = queryRunner.connection.options.type;
    const mysql = type === 'mysql' || type === 'mariadb';
    if (mysql) {
      // Ids compared byte for byte, like every other table (1763900000006-exact-text-comparison.ts).
      const collation = type === 'mariadb' ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
      for (const table of ['usage_member_rollup', 'refused_call_counter']) {
        await queryRunner.query(`ALTER TABLE \`${table}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE ${collation}`);
      }
    }
    const day = mysql ? "DATE_FORMAT(occurred_at, '%Y-%m-%d')" : 'substr(occurred_at, 1, 10)';
    await queryRunner.query(
      `INSERT INTO usage_member_rollup (workspace_id, day, actor_key, shard, calls, input_tokens, output_tokens, billed_micros)
       SELECT workspace_id, ${day}, COALESCE(actor_user_id, ''), 0, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(billed_micros)
         FROM usage_record GROUP BY workspace_id, ${day}, COALESCE(actor_user_id, '')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('refused_call_counter');
    await queryRunner.dropTable('usage_member_rollup');
  }
}
