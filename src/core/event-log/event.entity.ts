import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-transformers';

/**
 * One event of the log. `seq` is numbered by EventLog.append under its lock, never by the
 * database (migration 1763901200000 dropped the Postgres sequence; SQLite's INTEGER PRIMARY KEY
 * takes the explicit value), so it is a plain primary column here.
 */
@Entity({ name: 'events' })
export class EventEntity {
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber }) seq: number;
  /** Producer id: unique within an organisation (ux_events_org_id). */
  @Column({ type: 'varchar', length: 128 }) id: string;
  @Column({ type: 'varchar', length: 64 }) type: string;
  @Column({ type: 'varchar', length: 8 }) version: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128, nullable: true }) user_id: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) claim_id: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) channel_id: string | null;
  /** The event's data as JSON text. */
  @Column({ type: 'text' }) data: string;
  @Column({ type: 'varchar', length: 24 }) occurred_at: string;
  @Column({ type: 'varchar', length: 24 }) received_at: string;
}
