import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { col } from './column-types';

/**
 * A claim webhook subscription remembers whether its subscriber sees the whole organisation; one
 * that does not gets only the claim's events about its own user, as it would over REST.
 * Subscriptions made before this was recorded count as narrowed: that may hold back events from
 * an app's subscription, but never sends a user events about someone else.
 */
export class ClaimSubscriptionVisibility1763900600000 implements MigrationInterface {
  name = 'ClaimSubscriptionVisibility1763900600000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumn('claim_subscriptions', new TableColumn(col.bool('org_wide', false)));
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropColumn('claim_subscriptions', 'org_wide');
  }
}
