import { MigrationInterface, QueryRunner } from 'typeorm';

export class RealtimeChannels1763900200000 implements MigrationInterface {
  name = 'RealtimeChannels1763900200000';

  async up(_runner: QueryRunner): Promise<void> {}

  async down(_runner: QueryRunner): Promise<void> {}
}
