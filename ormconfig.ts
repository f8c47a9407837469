import 'reflect-metadata';
import { createDataSource } from './src/db/data-source';

/** For the TypeORM CLI: the same DataSource the service builds, from DATABASE_URL / DATA_DIR. */
export default createDataSource({ databaseUrl: process.env.DATABASE_URL, dataDir: process.env.DATA_DIR ?? './data' });
