import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadProcessConfig } from './src/core/config';
import { buildDataSourceOptions } from './src/core/database/data-source-options';

/** The DataSource the TypeORM CLI uses (`npm run migration:run`); the app builds its own from the same options. */
export default new DataSource(buildDataSourceOptions(loadProcessConfig().database));
