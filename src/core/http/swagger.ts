import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '../config';

/** Swagger UI at /docs and the OpenAPI document at /docs-json. */
export function setupSwagger(app: INestApplication, config: AppConfig): void {
  const document = new DocumentBuilder()
    .setTitle('Herald')
    .setDescription(
      'Realtime event subscriptions and notifications for expense-claim approvals: events in, ' +
        'fan-out to Socket.IO rooms, raw WebSocket clients and signed webhooks, with replay.\n\n' +
        'Authenticate with `Authorization: Bearer <API key or JWT>` or `X-Api-Key: <API key>`.',
    )
    .setVersion('1')
    .addServer(config.publicBaseUrl)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A Herald API key or a JWT from your identity provider' }, 'bearer')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'api-key')
    .addTag('api-keys', 'Issue and revoke Herald API keys')
    .addTag('operations', 'Health, readiness and metrics')
    .build();
  const openApi = SwaggerModule.createDocument(app, document);
  SwaggerModule.setup('docs', app, openApi, { jsonDocumentUrl: 'docs-json', customSiteTitle: 'Herald API' });
}
