import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiSecurity, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { Principal, Scope } from './principal';
import { selectWorkspace } from './workspace';

export const IS_PUBLIC = 'herald:public';
export const REQUIRED_SCOPES = 'herald:scopes';

/** Opts a route out of the global credential check (health, metrics, docs). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * Documents the credential schemes and, when given scopes, requires every one of them
 * (`admin` and the operator key satisfy any scope).
 */
export function Authenticated(...scopes: Scope[]) {
  const description = scopes.length ? `Requires scope ${scopes.join(', ')}.` : undefined;
  return applyDecorators(
    SetMetadata(REQUIRED_SCOPES, scopes),
    ApiBearerAuth('bearer'),
    ApiSecurity('api-key'),
    ApiUnauthorizedResponse({ description: 'Missing, invalid, expired or revoked credential.' }),
    ApiForbiddenResponse({ description: description ?? 'The credential may not do this.' }),
  );
}

export type AuthenticatedRequest = Request & { principal?: Principal; id?: string };

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return principal;
});

/** The current workspace: `X-Workspace-Id` if given (must be one of the principal's), else its first. */
export const CurrentWorkspace = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!req.principal) throw new Error('CurrentWorkspace used on a route without authentication');
  return selectWorkspace(req.principal, req.headers['x-workspace-id']);
});
