import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * How many clients one node has attached to a channel, refreshed by that node's heartbeat; a row
 * not refreshed lately belongs to a dead node and no longer counts.
 */
@Entity({ name: 'realtime_channel_attachments' })
export class ChannelAttachmentEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) channel_id: string;
  @PrimaryColumn({ type: 'varchar', length: 64 }) node_id: string;
  @Column({ type: 'integer' }) clients: number;
  @Column({ type: 'varchar', length: 24 }) seen_at: string;
}
