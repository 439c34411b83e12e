import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';
import { ApiKeysService } from './api-keys.service';

/** Makes sure a fresh install has one operator key, and prints a generated one exactly once. */
@Injectable()
export class OperatorKeyBootstrap implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: ApiKeysService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.keys.ensureOperatorKey(this.config.auth.bootstrapKey);
    } catch (err) {
      // Another node starting at the same moment may have inserted the same bootstrap key.
      this.logger.warn({ err }, 'operator key bootstrap raced with another node; retrying once');
      token = await this.keys.ensureOperatorKey(this.config.auth.bootstrapKey);
    }
    if (token) {
      // Printed straight to stdout, never through the logger: logs must not carry credentials.
      process.stdout.write(
        `\nHerald created an operator API key. It is shown only this once; store it now:\n\n    ${token}\n\n` +
          `Use it as "X-Api-Key: <key>" or "Authorization: Bearer <key>" to create keys at POST /api/v1/api-keys.\n\n`,
      );
    }
  }
}
