import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * Published list prices per model tier, in micro-USD per million tokens, in effect from
 * 2020-01-01 so that backfilled calls always find a price. Later changes are new rows.
 */
const PUBLISHED_PRICES = [
  { id: '00000000-0000-7000-8000-000000000001', tier: 'FRONTIER', input: 15_000_000, output: 75_000_000 },
  { id: '00000000-0000-7000-8000-000000000002', tier: 'BALANCED', input: 3_000_000, output: 15_000_000 },
  { id: '00000000-0000-7000-8000-000000000003', tier: 'COST_EFFECTIVE', input: 250_000, output: 1_250_000 },
];
const EFFECTIVE_FROM = '2020-01-01 00:00:00.000';

export class CreateTierPrice1763900000003 implements MigrationInterface {
  name = 'CreateTierPrice1763900000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'tier_price',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'tier', type: 'varchar', length: '16' },
          { name: 'input_micros_per_million', type: 'bigint' },
          { name: 'output_micros_per_million', type: 'bigint' },
          { name: 'effective_from', type: 'datetime', precision: 3 },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createIndex(
      'tier_price',
      new TableIndex({ name: 'uq_tier_price_tier_from', columnNames: ['tier', 'effective_from'], isUnique: true }),
    );
    for (const price of PUBLISHED_PRICES) {
      await queryRunner.query(
        'INSERT INTO tier_price (id, tier, input_micros_per_million, output_micros_per_million, effective_from, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [price.id, price.tier, price.input, price.output, EFFECTIVE_FROM, EFFECTIVE_FROM],
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('tier_price');
  }
}
