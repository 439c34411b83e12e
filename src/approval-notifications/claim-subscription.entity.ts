import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A claim webhook subscription; its delivery endpoint (secret, URL) lives with the webhooks.
 * Column defaults live in the migrations only (see ApprovalNotificationEntity).
 */
@Entity({ name: 'claim_subscriptions' })
export class ClaimSubscriptionEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) subscription_id: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128 }) claim_id: string;
  @Column({ type: 'varchar', length: 128 }) user_id: string;
  @Column({ type: 'text' }) webhook_url: string;
  @Column({ type: 'boolean' }) active: boolean;
  /** Whether the subscriber saw the whole organisation when it subscribed (false: only its own user's events). */
  @Column({ type: 'boolean' }) org_wide: boolean;
  @Column({ type: 'varchar', length: 24 }) created_at: string;
  @Column({ type: 'varchar', length: 24, nullable: true }) deleted_at: string | null;
}
