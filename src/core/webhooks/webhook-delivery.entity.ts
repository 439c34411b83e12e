import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { DeliveryStatus } from './webhook.types';
import { bigintAsNumber } from '../database/column-transformers';

/**
 * The outbox and the delivery log in one: a row per (event, endpoint), written by the
 * dispatcher's transaction, worked off by every node, kept as history once final. Column
 * defaults live in the migrations only: the store always writes every column it inserts.
 */
@Entity({ name: 'webhook_deliveries' })
export class WebhookDeliveryEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 128 }) endpoint_id: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128, nullable: true }) workspace_id: string | null;
  @Column({ type: 'varchar', length: 128 }) event_id: string;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) event_seq: number;
  @Column({ type: 'integer', nullable: true }) rule_index: number | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) match_hash: string | null;
  @Column({ type: 'integer', nullable: true }) match_index: number | null;
  /** The exact request body, so retries survive event retention; cleared once final. */
  @Column({ type: 'text', nullable: true }) body: string | null;
  @Column({ type: 'varchar', length: 16 }) status: DeliveryStatus;
  @Column({ type: 'integer' }) attempts: number;
  /** The attempt count at which the current retry schedule began: 0, or where a resend or recover started it again. */
  @Column({ type: 'integer' }) retry_base: number;
  @Column({ type: 'varchar', length: 24, nullable: true }) next_attempt_at: string | null;
  @Column({ type: 'varchar', length: 24, nullable: true }) lease_until: string | null;
  @Column({ type: 'integer', nullable: true }) response_status: number | null;
  @Column({ type: 'text', nullable: true }) error: string | null;
  @Column({ type: 'integer', nullable: true }) duration_ms: number | null;
  /** The entry's log time, with microseconds and unique per organisation (migration 1763901000000). */
  @Column({ type: 'varchar', length: 32 }) created_at: string;
  @Column({ type: 'varchar', length: 24, nullable: true }) delivered_at: string | null;
  @Column({ type: 'varchar', length: 24 }) updated_at: string;
}
