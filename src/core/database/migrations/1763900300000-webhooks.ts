import { MigrationInterface, QueryRunner } from 'typeorm';

export class Webhooks1763900300000 implements MigrationInterface {
  name = 'Webhooks1763900300000';

  async up(_runner: QueryRunner): Promise<void> {}

  async down(_runner: QueryRunner): Promise<void> {}
}
