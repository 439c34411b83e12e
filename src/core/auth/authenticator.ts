import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ApiKeysService } from './api-keys.service';
import { looksLikeJwt } from './credentials';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';
import { Principal } from './principal';

/** What a client is told, on every transport, when it presents a key past its `expires_at`. */
export const API_KEY_EXPIRED = 'API key expired';

/** One answer to "who is this?" for HTTP requests, WebSocket upgrades and socket handshakes. */
@Injectable()
export class Authenticator {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly jwt: JwtVerifier,
  ) {}

  /** Throws UnauthorizedException with a reason a client can act on. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new UnauthorizedException('Missing credential: send Authorization: Bearer <token> or X-Api-Key');
    if (looksLikeJwt(token)) {
      try {
        return await this.jwt.verify(token);
      } catch (err) {
        if (err instanceof InvalidTokenError) throw new UnauthorizedException(`Invalid bearer token: ${err.message}`);
        throw err;
      }
    }
    const found = await this.keys.lookup(token);
    if (found.status === 'expired') throw new UnauthorizedException(API_KEY_EXPIRED);
    if (found.status === 'unknown') throw new UnauthorizedException('Invalid credential: unknown or revoked API key');
    return found.principal;
  }
}
