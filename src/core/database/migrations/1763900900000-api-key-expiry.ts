import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { col } from './column-types';

/**
 * API keys may expire: `expires_at` (ISO-8601 UTC, like every time column) is checked whenever a
 * key authenticates. Existing keys get null and never expire.
 *
 * `created_by` now names the creating key's id, `jwt:<sub or org>`, or `operator`. Rows written
 * before held a key id or, for a JWT user, its bare `sub`: those subs get their `jwt:` prefix
 * (key ids are never deleted, so anything else is a sub), and the operator keys minted at
 * bootstrap are marked `operator`. Other null rows (a JWT app token, the command line) stay null:
 * which of the two made them is not recorded.
 */
export class ApiKeyExpiry1763900900000 implements MigrationInterface {
  name = 'ApiKeyExpiry1763900900000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumn('api_keys', new TableColumn(col.time('expires_at', true)));
    await runner.query(
      `UPDATE api_keys SET created_by = substr('jwt:' || created_by, 1, 128)
        WHERE created_by IS NOT NULL AND created_by NOT IN (SELECT id FROM api_keys)`,
    );
    await runner.query(`UPDATE api_keys SET created_by = 'operator' WHERE created_by IS NULL AND "operator" = true`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropColumn('api_keys', 'expires_at');
  }
}
