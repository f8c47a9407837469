import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** Member changes are audited with the member they are about and the role before and after. */
export class AuditMemberChanges1764820000000 implements MigrationInterface {
  name = 'AuditMemberChanges1764820000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('audit_event', [
      new TableColumn({ name: 'target_user_id', type: 'varchar', length: '191', isNullable: true }),
      new TableColumn({ name: 'from_role', type: 'varchar', length: '20', isNullable: true }),
      new TableColumn({ name: 'to_role', type: 'varchar', length: '20', isNullable: true }),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumns('audit_event', ['to_role', 'from_role', 'target_user_id']);
  }
}
