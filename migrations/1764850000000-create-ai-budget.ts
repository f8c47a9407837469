import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { exactTextCollation } from './exact-text-collation';

export class CreateAiBudget1764850000000 implements MigrationInterface {
  name = 'CreateAiBudget1764850000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'ai_budget',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'monthly_limit_micros', type: 'bigint' },
          { name: 'thresholds', type: 'varchar', length: '100' },
          { name: 'action', type: 'varchar', length: '16' },
          { name: 'updated_by', type: 'varchar', length: '191', isNullable: true },
          { name: 'updated_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'ai_budget_crossing',
        columns: [
          { name: 'workspace_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'month', type: 'varchar', length: '7', isPrimary: true },
          { name: 'threshold', type: 'smallint', isPrimary: true },
          { name: 'spent_micros', type: 'bigint' },
          { name: 'crossed_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await exactTextCollation(queryRunner, ['ai_budget', 'ai_budget_crossing']);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('ai_budget_crossing');
    await queryRunner.dropTable('ai_budget');
  }
}
