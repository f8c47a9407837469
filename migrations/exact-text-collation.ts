import { QueryRunner, TableForeignKey } from 'typeorm';

/**
 * Gives new tables the binary collation of 1763900000006 on MySQL and MariaDB (SQLite compares
 * bytes already), then their foreign keys to `workspace`, which need both sides in one collation.
 */
export async function exactTextCollation(queryRunner: QueryRunner, tables: string[], workspaceKeys: string[] = tables): Promise<void> {
  const type = queryRunner.connection.options.type;
  if (type === 'mysql' || type === 'mariadb') {
    const collation = type === 'mariadb' ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
    for (const table of tables) await queryRunner.query(`ALTER TABLE \`${table}\` CONVERT TO CHARACTER SET utf8mb4 COLLATE ${collation}`);
  }
  for (const table of workspaceKeys) {
    await queryRunner.createForeignKey(
      table,
      new TableForeignKey({ columnNames: ['workspace_id'], referencedTableName: 'workspace', referencedColumnNames: ['id'], onDelete: 'CASCADE', onUpdate: 'CASCADE' }),
    );
  }
}
