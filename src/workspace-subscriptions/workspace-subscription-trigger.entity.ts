import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The (trigger type, resource) index of workspace subscriptions (migration 1763900500000), so
 * matching a batch of events never scans every subscription. Rows are written and deleted
 * together with their subscription, never updated.
 *
 * The table has no primary key; TypeORM needs one to know an entity, so the row's columns stand
 * in for it here. Nothing loads or saves these rows by identity.
 */
@Entity({ name: 'workspace_subscription_triggers' })
export class WorkspaceSubscriptionTriggerEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 }) subscription_id: string;
  @Column({ type: 'varchar', length: 128 }) organisation_id: string;
  @PrimaryColumn({ type: 'varchar', length: 64 }) trigger_type: string;
  @PrimaryColumn({ type: 'varchar', length: 16 }) resource_kind: string;
  @PrimaryColumn({ type: 'varchar', length: 128 }) resource_id: string;
}
