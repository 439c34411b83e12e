import { Global, Module } from '@nestjs/common';

/** The webhook delivery engine (outbox, worker, signing, retries, SSRF guard). */
@Global()
@Module({})
export class WebhooksModule {}
