import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { col } from './column-types';

/**
 * A rotated-out signing secret keeps signing beside the new one until `previous_secret_until`
 * (WEBHOOK_SECRET_ROTATION_OVERLAP), so a receiver can switch secrets without dropping a delivery.
 * `secret` stays varchar(128): a sealed secret fits it (secret-box.ts), so no column changes type.
 */
export class EndpointSecretRotation1763901400000 implements MigrationInterface {
  name = 'EndpointSecretRotation1763901400000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumns('webhook_endpoints', [
      new TableColumn(col.text('previous_secret', true)),
      new TableColumn(col.time('previous_secret_until', true)),
    ]);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropColumns('webhook_endpoints', ['previous_secret_until', 'previous_secret']);
  }
}
