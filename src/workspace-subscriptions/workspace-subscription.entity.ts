import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A workspace subscription (migrations 1763900500000, 1763900800000). The JSON columns hold the
 * text the store writes with JSON.stringify; the store parses them when it maps a row.
 */
@Entity({ name: 'workspace_subscriptions' })
export class WorkspaceSubscriptionEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @Column({ type: 'varchar', length: 128 }) workspace_id: string;
  /** JSON `{ id, inputs, topics }` when saved from a template. */
  @Column({ type: 'text', nullable: true }) template: string | null;
  /** JSON array of `{ trigger, conditions }`. */
  @Column({ type: 'text' }) rules: string;
  /** JSON array of resource names (`users/<id>`, `organisations/*`, ...). */
  @Column({ type: 'text' }) resources: string;
  /** JSON array of actions. */
  @Column({ type: 'text' }) actions: string;
  /** JSON `{ title }`. */
  @Column({ type: 'text' }) meta: string;
  @Column({ type: 'varchar', length: 8 }) state: string;
  @Column({ type: 'text', nullable: true }) issue: string | null;
  @Column({ type: 'integer', nullable: true }) rate_limit: number | null;
  @Column({ type: 'varchar', length: 24 }) created_at: string;
  @Column({ type: 'varchar', length: 24 }) updated_at: string;
  /** Null: saved before owners were recorded (migration 1763900800000). */
  @Column({ type: 'varchar', length: 8, nullable: true }) owner_kind: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) owner_user_id: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) owner_key_id: string | null;
  @Column({ type: 'boolean', default: false }) owner_org_wide: boolean;
  @Column({ type: 'boolean', default: false }) owner_can_read: boolean;
}
