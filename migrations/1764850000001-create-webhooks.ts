import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { exactTextCollation } from './exact-text-collation';

export class CreateWebhooks1764850000001 implements MigrationInterface {
  name = 'CreateWebhooks1764850000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'webhook_endpoint',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'url', type: 'varchar', length: '2048' },
          { name: 'events', type: 'varchar', length: '1000', isNullable: true },
          { name: 'enabled', type: 'smallint' },
          { name: 'disabled_reason', type: 'varchar', length: '300', isNullable: true },
          { name: 'secret', type: 'blob' },
          { name: 'previous_secret', type: 'blob', isNullable: true },
          { name: 'previous_secret_until', type: 'datetime', precision: 3, isNullable: true },
          { name: 'failing_since', type: 'datetime', precision: 3, isNullable: true },
          { name: 'created_by', type: 'varchar', length: '191', isNullable: true },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createIndex('webhook_endpoint', new TableIndex({ name: 'idx_webhook_endpoint_workspace', columnNames: ['workspace_id'] }));
    await queryRunner.createTable(
      new Table({
        name: 'webhook_event',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '64' },
          { name: 'payload', type: 'text' },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_delivery',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'event_id', type: 'varchar', length: '36' },
          { name: 'endpoint_id', type: 'varchar', length: '36' },
          { name: 'workspace_id', type: 'varchar', length: '36' },
          { name: 'event_type', type: 'varchar', length: '64' },
          { name: 'attempts', type: 'integer' },
          { name: 'last_status', type: 'integer', isNullable: true },
          { name: 'last_error', type: 'varchar', length: '200', isNullable: true },
          { name: 'next_attempt_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'claim', type: 'varchar', length: '36', isNullable: true },
          { name: 'delivered_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
      }),
    );
    await queryRunner.createIndex('webhook_delivery', new TableIndex({ name: 'idx_webhook_delivery_due', columnNames: ['next_attempt_at'] }));
    await queryRunner.createIndex('webhook_delivery', new TableIndex({ name: 'idx_webhook_delivery_endpoint', columnNames: ['endpoint_id', 'created_at'] }));
    await exactTextCollation(queryRunner, ['webhook_endpoint', 'webhook_event', 'webhook_delivery'], ['webhook_endpoint', 'webhook_event']);
    await queryRunner.createForeignKey(
      'webhook_delivery',
      new TableForeignKey({ columnNames: ['endpoint_id'], referencedTableName: 'webhook_endpoint', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'NO ACTION' }),
    );
    await queryRunner.createForeignKey(
      'webhook_delivery',
      new TableForeignKey({ columnNames: ['event_id'], referencedTableName: 'webhook_event', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'NO ACTION' }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('webhook_delivery');
    await queryRunner.dropTable('webhook_event');
    await queryRunner.dropTable('webhook_endpoint');
  }
}
