import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

export class CreateUsageRecordAndRollup1763900000004 implements MigrationInterface {
  name = 'CreateUsageRecordAndRollup1763900000004';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'usage_record',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'request_id', type: 'varchar', length: '128' },
          { name: 'path', type: 'varchar', length: '40' },
          { name: 'model', type: 'varchar', length: '200' },
          { name: 'tier', type: 'varchar', length: '16' },
          { name: 'key_source', type: 'varchar', length: '16' },
          { name: 'input_tokens', type: 'bigint' },
          { name: 'output_tokens', type: 'bigint' },
          { name: 'raw_cost_micros', type: 'bigint', isNullable: true },
          { name: 'tier_price_micros', type: 'bigint' },
          { name: 'billed_micros', type: 'bigint' },
          { name: 'occurred_at', type: 'datetime', precision: 3 },
          { name: 'recorded_at', type: 'datetime', precision: 3 },
          { name: 'actor_user_id', type: 'varchar', length: '191', isNullable: true },
          { name: 'flagged', type: 'smallint' },
          { name: 'settled_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'payload_hash', type: 'varchar', length: '64' },
        ],
      }),
    );
    await queryRunner.createIndex(
      'usage_record',
      new TableIndex({ name: 'uq_usage_record_request', columnNames: ['workspace_id', 'request_id'], isUnique: true }),
    );
    await queryRunner.createIndex(
      'usage_record',
      new TableIndex({ name: 'idx_usage_record_time', columnNames: ['workspace_id', 'occurred_at', 'id'] }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'usage_rollup',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'day', type: 'varchar', length: '10', isPrimary: true },
          { name: 'tier', type: 'varchar', length: '16', isPrimary: true },
          { name: 'key_source', type: 'varchar', length: '16', isPrimary: true },
          { name: 'path', type: 'varchar', length: '40', isPrimary: true },
          { name: 'model', type: 'varchar', length: '200', isPrimary: true },
          { name: 'shard', type: 'smallint', isPrimary: true },
          { name: 'calls', type: 'bigint' },
          { name: 'input_tokens', type: 'bigint' },
          { name: 'output_tokens', type: 'bigint' },
          { name: 'tier_price_micros', type: 'bigint' },
          { name: 'raw_cost_micros', type: 'bigint' },
          { name: 'billed_micros', type: 'bigint' },
          { name: 'flagged_calls', type: 'bigint' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('usage_rollup');
    await queryRunner.dropTable('usage_record');
  }
}
