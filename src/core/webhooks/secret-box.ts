import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '../config';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value could not be opened: its key is not in the ring, or it was altered or moved. */
export class SecretUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretUnreadableError';
  }
}

/** Whether `stored` is a sealed value (anything else is plain text, written before a key was set). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The id of the key that sealed `stored`; undefined for plain text. */
export function sealedWith(stored: string): string | undefined {
  return isSealed(stored) ? stored.slice(PREFIX.length).split(':', 1)[0] : undefined;
}

/**
 * Webhook signing secrets at rest (HERALD_ENCRYPTION_KEY): AES-256-GCM with a random 12-byte IV,
 * stored as `enc:v1:<key id>:<base64url iv>:<base64url ciphertext and tag>`. The key id says which
 * key of the ring opens it, so the ring can be rotated while old values are still around.
 *
 * Every value is bound to a context (the endpoint's id) through the GCM additional data: a sealed
 * secret copied into another row does not open there, so whoever can write the table but does not
 * hold the key cannot make one subscription sign with another's secret.
 *
 * A whsec_ secret (38 characters) seals to 97 characters plus the key id, which config.ts keeps
 * to 16 characters: it fits the `secret` column's 128.
 */
export class SecretBox {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly EncryptionKey[]) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** Whether values are sealed at all (a key is set). */
  get sealing(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key new values are sealed with. */
  get currentKeyId(): string | undefined {
    return this.keys[0]?.id;
  }

  /** `plain` sealed with the first key of the ring, for `context`; as is when no key is set. */
  seal(plain: string, context: string): string {
    const current = this.keys[0];
    if (!current) return plain;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(additionalData(current.id, context));
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${current.id}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
  }

  /** The plain text of `stored`; plain text (no `enc:v1:` prefix) is returned as is. */
  open(stored: string, context: string): string {
    if (!isSealed(stored)) return stored;
    const [keyId, iv64, sealed64, ...rest] = stored.slice(PREFIX.length).split(':');
    const key = this.byId.get(keyId);
    if (!key) {
      throw new SecretUnreadableError(
        this.sealing
          ? `sealed with key ${keyId}, which HERALD_ENCRYPTION_KEY does not hold`
          : `sealed with key ${keyId}, and HERALD_ENCRYPTION_KEY is not set`,
      );
    }
    const iv = Buffer.from(iv64 ?? '', 'base64url');
    const sealed = Buffer.from(sealed64 ?? '', 'base64url');
    if (rest.length || iv.length !== IV_BYTES || sealed.length < TAG_BYTES)
      throw new SecretUnreadableError(`not a well-formed sealed value (key ${keyId})`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(additionalData(keyId, context));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretUnreadableError(
        `did not open with key ${keyId}: the value was altered, or belongs to another row`,
      );
    }
  }

  /** Whether `stored` should be sealed again: plain text, or sealed with a key other than the first. */
  needsResealing(stored: string): boolean {
    return this.sealing && sealedWith(stored) !== this.currentKeyId;
  }
}

function additionalData(keyId: string, context: string): Buffer {
  return Buffer.from(`${PREFIX}${keyId}:${context}`, 'utf8');
}
