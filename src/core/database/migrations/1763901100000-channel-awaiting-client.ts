import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { col } from './column-types';

/**
 * A realtime channel is `connected` from its creation, and again after a reconnect, until a
 * client has attached and the last one has dropped (the realtime channels contract). `awaiting_client` marks
 * that first stretch: set on create and reconnect, cleared when a client attaches. Existing
 * channels start cleared, so their status reads exactly as before (from live attachments).
 */
export class ChannelAwaitingClient1763901100000 implements MigrationInterface {
  name = 'ChannelAwaitingClient1763901100000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumn('realtime_channels', new TableColumn(col.bool('awaiting_client', false)));
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropColumn('realtime_channels', 'awaiting_client');
  }
}
