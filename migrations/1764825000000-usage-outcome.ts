import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Whether a call's completion reached the record. Every call recorded before the usage ledger
 * journaled intents was answered, so existing rows are COMPLETED.
 */
export class UsageOutcome1764825000000 implements MigrationInterface {
  name = 'UsageOutcome1764825000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('usage_record', new TableColumn({ name: 'outcome', type: 'varchar', length: '16', default: "'COMPLETED'" }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('usage_record', 'outcome');
  }
}
