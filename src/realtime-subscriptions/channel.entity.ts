import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../core/database/column-transformers';

/**
 * A claim channel. Column defaults live in the migrations only: declared here, TypeORM would
 * read every inserted row back on SQLite to learn them. Inserts therefore give every column a value.
 */
@Entity({ name: 'realtime_channels' })
export class ChannelEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) channel_id: string;
  @Column({ type: 'varchar', length: 32 }) subscription_type: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128, nullable: true }) user_id: string | null;
  /** JSON array of event types as text; empty means every claim event type. */
  @Column({ type: 'text' }) event_types: string;
  /** Matching events after this seq are counted. */
  @Column({ type: 'bigint', transformer: bigintAsNumber }) created_seq: number;
  /** Replay starts after this seq. */
  @Column({ type: 'bigint', transformer: bigintAsNumber }) cursor_seq: number;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) event_count: number;
  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber }) last_event_seq: number | null;
  @Column({ type: 'varchar', length: 24, nullable: true }) last_event_at: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) created_by: string | null;
  @Column({ type: 'varchar', length: 24 }) created_at: string;
  @Column({ type: 'varchar', length: 24, nullable: true }) reconnected_at: string | null;
  @Column({ type: 'varchar', length: 24, nullable: true }) closed_at: string | null;
  /** Set on create and reconnect, cleared once a client attaches (the realtime channels contract). */
  @Column({ type: 'boolean' }) awaiting_client: boolean;
}
