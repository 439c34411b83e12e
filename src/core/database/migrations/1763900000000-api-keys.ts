import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { col } from './column-types';

export class ApiKeys1763900000000 implements MigrationInterface {
  name = 'ApiKeys1763900000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          col.id(),
          col.varchar('token_hash', 64),
          col.varchar('token_hint', 16),
          col.varchar('name', 200, true),
          col.varchar('kind', 8),
          col.ref('user_id', true),
          col.ref('organisation_id'),
          col.text('workspace_ids'),
          col.text('scopes'),
          col.bool('operator', false),
          col.ref('created_by', true),
          col.time('created_at'),
          col.time('revoked_at', true),
        ],
      }),
    );
    await runner.createIndex(
      'api_keys',
      new TableIndex({ name: 'ux_api_keys_token_hash', columnNames: ['token_hash'], isUnique: true }),
    );
    await runner.createIndex(
      'api_keys',
      new TableIndex({ name: 'ix_api_keys_org', columnNames: ['organisation_id', 'created_at'] }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('api_keys');
  }
}
