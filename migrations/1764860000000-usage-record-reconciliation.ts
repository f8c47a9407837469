import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * What a month needs to be reconciled with OpenRouter's activity export: the upstream generation
 * id, whether OpenRouter ran the call on the customer's provider keys, and the provider cost it
 * then reported apart from its fee. Nullable: records written before this was kept stay valid.
 */
export class UsageRecordReconciliation1764860000000 implements MigrationInterface {
  name = 'UsageRecordReconciliation1764860000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('usage_record', [
      new TableColumn({ name: 'generation_id', type: 'varchar', length: '128', isNullable: true }),
      new TableColumn({ name: 'is_byok', type: 'smallint', isNullable: true }),
      new TableColumn({ name: 'upstream_inference_cost_micros', type: 'bigint', isNullable: true }),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumns('usage_record', ['upstream_inference_cost_micros', 'is_byok', 'generation_id']);
  }
}
