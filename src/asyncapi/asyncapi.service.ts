import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../core/config';
import { EventCatalog } from '../core/event-log/event-catalog';
import { buildAsyncApiDocument } from './asyncapi-document';
import { pageAssets, type Asset } from './asyncapi-page';

/** The AsyncAPI document, built once at start from the catalog and the wire schemas, and the page's assets. */
@Injectable()
export class AsyncApiService {
  private readonly logger = new Logger('AsyncApiService');
  readonly document: Record<string, unknown>;
  private readonly assets: Record<string, Asset>;

  constructor(catalog: EventCatalog, @Inject(APP_CONFIG) config: AppConfig) {
    this.document = buildAsyncApiDocument({ publicWsUrl: config.publicWsUrl, catalog: catalog.list() });
    this.assets = pageAssets();
    if (!this.assets['asyncapi-standalone.js'])
      this.logger.warn('@asyncapi/react-component is not installed: /asyncapi will not render');
  }

  asset(name: string): Asset | undefined {
    return Object.hasOwn(this.assets, name) ? this.assets[name] : undefined;
  }
}
