import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { EndpointState } from './webhook.types';

/**
 * Where a subscription's webhooks go (see WebhookEndpoint). Column defaults live in the
 * migrations only: the store always writes every column it inserts.
 */
@Entity({ name: 'webhook_endpoints' })
export class WebhookEndpointEntity {
  /** The owning subscription's id. */
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 32 }) kind: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128, nullable: true }) workspace_id: string | null;
  @Column({ type: 'text' }) url: string;
  /** Sealed when HERALD_ENCRYPTION_KEY is set (secret-box.ts); EndpointStore seals and opens it. */
  @Column({ type: 'varchar', length: 128 }) secret: string;
  /** The secret a rotation replaced, still signing beside `secret` until `previous_secret_until`. */
  @Column({ type: 'text', nullable: true }) previous_secret: string | null;
  @Column({ type: 'varchar', length: 24, nullable: true }) previous_secret_until: string | null;
  /** Extra request headers as JSON text (`{}` when there are none). */
  @Column({ type: 'text' }) headers: string;
  @Column({ type: 'integer', nullable: true }) rate_limit_per_minute: number | null;
  /** The user the subscription belongs to, if a user: it reads the endpoint's deliveries in the delivery log API. */
  @Column({ type: 'varchar', length: 128, nullable: true }) owner_user_id: string | null;
  @Column({ type: 'varchar', length: 8 }) state: EndpointState;
  @Column({ type: 'text', nullable: true }) issue: string | null;
  /** The failure streak behind automatic blocking; a success clears it. */
  @Column({ type: 'varchar', length: 24, nullable: true }) failing_since: string | null;
  @Column({ type: 'integer' }) failed_attempts: number;
  @Column({ type: 'integer' }) failed_deliveries: number;
  @Column({ type: 'text', nullable: true }) last_error: string | null;
  @Column({ type: 'varchar', length: 24 }) created_at: string;
  @Column({ type: 'varchar', length: 24 }) updated_at: string;
}
