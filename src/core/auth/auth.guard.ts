import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Authenticator } from './authenticator';
import { extractCredential } from './credentials';
import { AuthenticatedRequest, IS_PUBLIC, REQUIRED_SCOPES } from './decorators';
import { hasScope, Scope } from './principal';

/** On for every HTTP route unless it is marked @Public(). Socket handshakes authenticate in the gateway. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = await this.authenticator.authenticate(extractCredential(req.headers));
    req.principal = principal;

    const scopes = this.reflector.getAllAndOverride<Scope[] | undefined>(REQUIRED_SCOPES, targets) ?? [];
    const missing = scopes.filter((scope) => !hasScope(principal, scope));
    if (missing.length) throw new ForbiddenException(`Missing scope: ${missing.join(', ')}`);
    return true;
  }
}
