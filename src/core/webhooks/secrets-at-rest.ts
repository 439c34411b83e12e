import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Database } from '../database/database.service';
import { isoNow } from '../http/time';
import { EndpointStore } from './endpoint.store';

/** Endpoints re-sealed per transaction at start-up: short transactions, whatever the table's size. */
const RESEAL_BATCH = 500;

/**
 * Start-up checks of the signing secrets at rest (HERALD_ENCRYPTION_KEY, secret-box.ts).
 *
 * With a key, every secret not yet sealed with the first key of the ring (plain, written before
 * the key was set, or sealed with an older key) is sealed again with it, so rotating the key is:
 * put the new one first, restart, then drop the old. Nodes starting together may both re-seal a
 * row; the result is the same. Without a key, one warning says secrets are kept in plain text.
 */
@Injectable()
export class SecretsAtRest implements OnApplicationBootstrap {
  private readonly logger = new Logger('Webhooks');

  constructor(
    private readonly db: Database,
    private readonly endpoints: EndpointStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.endpoints.sealing) {
      this.logger.warn(
        { engine: this.db.engine },
        `HERALD_ENCRYPTION_KEY is not set: webhook signing secrets are stored in plain text (${this.db.engine})`,
      );
      const sealed = await this.endpoints.countSealedAcrossTenants();
      if (sealed)
        this.logger.error(
          { count: sealed },
          'webhook endpoints hold secrets sealed with HERALD_ENCRYPTION_KEY, which is not set: they send nothing until it is',
        );
      return;
    }
    await this.resealAll();
  }

  private async resealAll(): Promise<void> {
    let resealed = 0;
    const unreadable: string[] = [];
    const now = isoNow();
    // Keyset pages by id: a row that cannot be re-sealed is passed over, not read again.
    let after: string | undefined = '';
    while (after !== undefined) {
      const batch = await this.endpoints.resealBatchAcrossTenants(after, RESEAL_BATCH, now);
      resealed += batch.resealed;
      unreadable.push(...batch.unreadable);
      after = batch.last;
    }
    this.logger.log(
      { key: this.endpoints.sealingKeyId, resealed },
      'webhook signing secrets are sealed at rest; those that were plain or under an older key were sealed again',
    );
    if (unreadable.length)
      this.logger.error(
        { count: unreadable.length, endpoints: unreadable.slice(0, 20) },
        'webhook signing secrets no key of HERALD_ENCRYPTION_KEY opens: those endpoints send nothing until the key is restored or their secret is rotated',
      );
  }
}
