import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../core/auth/decorators';
import { ASYNCAPI_PAGE_CSP, PAGE_HTML } from './asyncapi-page';
import { AsyncApiService } from './asyncapi.service';

/**
 * The AsyncAPI document (`/asyncapi.json`) and its rendered page (`/asyncapi`), public like
 * `/docs`. Not part of the OpenAPI document: they describe the API, they are not of it.
 */
@ApiExcludeController()
@Public()
@Controller()
export class AsyncApiController {
  constructor(private readonly asyncapi: AsyncApiService) {}

  @Get('asyncapi.json')
  @Header('Cache-Control', 'no-cache')
  document(): Record<string, unknown> {
    return this.asyncapi.document;
  }

  @Get('asyncapi')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', ASYNCAPI_PAGE_CSP)
  page(): string {
    return PAGE_HTML;
  }

  @Get('asyncapi/assets/:name')
  asset(@Param('name') name: string, @Res() res: Response): void {
    const asset = this.asyncapi.asset(name);
    if (!asset) throw new NotFoundException(`No asset ${name}`);
    res.setHeader('Content-Type', asset.type);
    if ('body' in asset) {
      res.setHeader('Cache-Control', 'no-cache');
      res.send(asset.body);
    } else {
      // The renderer's files change only with the installed package; revalidated by ETag.
      res.sendFile(asset.file, { headers: { 'Cache-Control': 'public, max-age=3600' } });
    }
  }
}
