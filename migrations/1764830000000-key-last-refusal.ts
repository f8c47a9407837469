import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** The last model OpenRouter refused on the workspace's key (no allowed provider, key restrictions), for aiInferenceKey.lastRefusal. */
export class KeyLastRefusal1764830000000 implements MigrationInterface {
  name = 'KeyLastRefusal1764830000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('tenant_secret', [
      new TableColumn({ name: 'last_refusal_model', type: 'varchar', length: '200', isNullable: true }),
      new TableColumn({ name: 'last_refusal_reason', type: 'varchar', length: '500', isNullable: true }),
      new TableColumn({ name: 'last_refusal_at', type: 'datetime', precision: 3, isNullable: true }),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumns('tenant_secret', ['last_refusal_at', 'last_refusal_reason', 'last_refusal_model']);
  }
}
