import { Column, Entity, Generated, PrimaryColumn } from 'typeorm';
import type { AttemptOutcome } from './webhook.types';
import { bigintAsNumber } from '../database/column-transformers';

/**
 * One try of a delivery. The id is numbered by the database (bigint on Postgres, SQLite's
 * INTEGER PRIMARY KEY); column defaults live in the migrations only.
 */
@Entity({ name: 'webhook_attempts' })
export class WebhookAttemptEntity {
  // PrimaryGeneratedColumn takes no transformer; this is the same column with one.
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  @Generated('increment')
  id: number;
  @Column({ type: 'varchar', length: 128 }) delivery_id: string;
  @Column({ type: 'integer' }) attempt: number;
  @Column({ type: 'varchar', length: 16 }) outcome: AttemptOutcome;
  @Column({ type: 'integer', nullable: true }) response_status: number | null;
  @Column({ type: 'text', nullable: true }) error: string | null;
  @Column({ type: 'integer' }) duration_ms: number;
  @Column({ type: 'varchar', length: 24 }) attempted_at: string;
  /** The request headers as sent, JSON text; the values of a subscription's extra headers are masked. */
  @Column({ type: 'text', nullable: true }) request_headers: string | null;
  /** The first 4 KiB of the response body (UTF-8), when a response came. */
  @Column({ type: 'text', nullable: true }) response_body: string | null;
}
