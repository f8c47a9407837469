import { MigrationInterface, QueryRunner } from 'typeorm';

/** Every table of ours, in the order they were created. */
const TABLES = ['workspace', 'member', 'tenant_secret', 'audit_event', 'tier_price', 'usage_record', 'usage_rollup', 'partner_token'];

/**
 * MySQL and MariaDB compare text with the database's default collation, usually case- and
 * accent-insensitive and blind to trailing spaces: the user `Carol ` was `carol`'s membership, and
 * request ids `R-1` and `r-1` one call. Ids, keys and names are compared byte for byte, as SQLite
 * does: a binary collation without trailing-space padding (MariaDB's `utf8mb4_nopad_bin`, MySQL 8's
 * `utf8mb4_0900_bin`). Tables added later are created with the same collation.
 */
export class ExactTextComparison1763900000006 implements MigrationInterface {
  name = 'ExactTextComparison1763900000006';

  async up(queryRunner: QueryRunner): Promise<void> {
    const type = queryRunner.connection.options.type;
    if (type !== 'mysql' && type !== 'mariadb') return;
    await convertAll(queryRunner, type === 'mariadb' ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const type = queryRunner.connection.options.type;
    if (type !== 'mysql' && type !== 'mariadb') return;
    const [{ collation }] = (await queryRunner.query('SELECT @@collation_database AS collation')) as Array<{ collation: string }>;
    await convertAll(queryRunner, collation);
  }
}

/**
 * A foreign key needs both its columns in one collation, so the keys are dropped while the tables
 * are converted and then made again as they were.
 */
async function convertAll(queryRunner: QueryRunner, collation: string): Promise<void> {
  const tables = await queryRunner.getTables(TABLES);
  const foreignKeys = tables.flatMap((table) => table.foreignKeys.map((foreignKey) => ({ table: table.name, foreignKey })));
  for (const { table, foreignKey } of foreignKeys) await queryRunner.dropForeignKey(table, foreignKey);
  for (const table of TABLES) await queryRunner.query(`ALTER TABLE \`${table}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE ${collation}`);
  for (const { table, foreignKey } of foreignKeys) await queryRunner.createForeignKey(table, foreignKey);
}
