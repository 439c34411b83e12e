import { createHash, randomBytes } from 'node:crypto';

/** Herald API keys look like `hrld_<43 url-safe chars>` (256 random bits). */
export const API_KEY_PREFIX = 'hrld_';

export function generateApiKeyToken(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** Tokens carry 256 bits of entropy, so an unsalted SHA-256 is a safe lookup key. */
export function hashApiKeyToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The first characters, kept so an operator can tell keys apart in a list. */
export function tokenHint(token: string): string {
  return token.slice(0, 9);
}
