import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config';
import { buildDataSourceOptions } from './data-source-options';
import { Database } from './database.service';
import { ensureSchema, runMigrationsExclusively } from './migrate';
import { TableStatistics } from './table-statistics';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        ...buildDataSourceOptions(config.database),
        autoLoadEntities: true,
        // Migrations run in dataSourceFactory, under a lock, so nodes starting together take turns.
        migrationsRun: false,
        migrationsTransactionMode: 'each',
        retryAttempts: 3,
        retryDelay: 1000,
      }),
      dataSourceFactory: async (options) => {
        await ensureSchema(options!);
        const dataSource = await new DataSource(options!).initialize();
        await runMigrationsExclusively(dataSource);
        return dataSource;
      },
    }),
  ],
  providers: [
    { provide: Database, inject: [DataSource], useFactory: (ds: DataSource) => new Database(ds) },
    TableStatistics,
  ],
  exports: [Database],
})
export class DatabaseModule {}
