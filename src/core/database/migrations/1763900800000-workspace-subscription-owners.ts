import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { col } from './column-types';

/**
 * A workspace subscription remembers who saved it (create, and every replace), so it delivers
 * (webhook and socket alike) only the events its owner may read: `owner_org_wide` for an app or
 * a user holding `claims:read:org`, else only events about `owner_user_id`; nothing at all
 * without `owner_can_read` (the owner held `events:read`) or once `owner_key_id` is revoked.
 *
 * Who saved the subscriptions that exist already is unknowable, so they get the restrictive
 * default: owner unknown (`owner_kind` NULL), not org-wide, no user, cannot read. They deliver
 * nothing until someone saves them again (POST /api/v1/subscriptions/:id), which records that
 * credential as the owner. That silences an app's subscription until it is re-saved, but never
 * sends a user events about someone else. Their views show an `issue` saying so, and every
 * start logs how many are left.
 */
export class WorkspaceSubscriptionOwners1763900800000 implements MigrationInterface {
  name = 'WorkspaceSubscriptionOwners1763900800000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumns('workspace_subscriptions', [
      new TableColumn(col.varchar('owner_kind', 8, true)),
      new TableColumn(col.ref('owner_user_id', true)),
      new TableColumn(col.ref('owner_key_id', true)),
      new TableColumn(col.bool('owner_org_wide', false)),
      new TableColumn(col.bool('owner_can_read', false)),
    ]);
  }

  async down(runner: QueryRunner): Promise<void> {
    for (const name of ['owner_can_read', 'owner_org_wide', 'owner_key_id', 'owner_user_id', 'owner_kind']) {
      await runner.dropColumn('workspace_subscriptions', name);
    }
  }
}
