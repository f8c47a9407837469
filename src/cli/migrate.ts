import { configOrExit, flag, openDatabase } from './cli-support';

/** npm run migrate [-- --revert]: applies pending migrations, or reverts the last one. */
async function main(): Promise<void> {
  const dataSource = await openDatabase(configOrExit());
  try {
    if (flag(process.argv, 'revert')) {
      await dataSource.undoLastMigration({ transaction: 'each' });
      process.stdout.write('reverted the last migration\n');
      return;
    }
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    process.stdout.write(applied.length ? `applied: ${applied.map((m) => m.name).join(', ')}\n` : 'no pending migrations\n');
  } finally {
    await dataSource.destroy();
  }
}

void main();
