import { generateSecret } from './webhook-request';
import { isSealed, SecretBox, SecretUnreadableError, sealedWith } from './secret-box';

const key = (id: string, fill: number) => ({ id, key: Buffer.alloc(32, fill) });

describe('SecretBox', () => {
  const secret = generateSecret();
  const box = new SecretBox([key('k2', 2), key('k1', 1)]);

  it('seals with the first key and opens what it sealed', () => {
    const stored = box.seal(secret, 'sub_1');
    expect(stored).toMatch(/^enc:v1:k2:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain(secret.slice(6));
    expect(box.open(stored, 'sub_1')).toBe(secret);
    expect(sealedWith(stored)).toBe('k2');
  });

  it('uses a fresh IV every time', () => {
    expect(box.seal(secret, 'sub_1')).not.toBe(box.seal(secret, 'sub_1'));
  });

  it('fits the 128-character secret column with the longest key id config allows', () => {
    const longest = new SecretBox([key('k'.repeat(16), 3)]);
    expect(longest.seal(generateSecret(), 'wsub_01jd3m7k2q8w6t5v4x3y2z1a0b').length).toBeLessThanOrEqual(128);
  });

  it('opens values sealed with any key of the ring', () => {
    const old = new SecretBox([key('k1', 1)]).seal(secret, 'sub_1');
    expect(box.open(old, 'sub_1')).toBe(secret);
    expect(box.needsResealing(old)).toBe(true);
    expect(box.needsResealing(box.seal(secret, 'sub_1'))).toBe(false);
  });

  it('passes plain text through, and wants it sealed once a key is set', () => {
    expect(isSealed(secret)).toBe(false);
    expect(box.open(secret, 'sub_1')).toBe(secret);
    expect(box.needsResealing(secret)).toBe(true);
  });

  it('without a key stores plain text and reseals nothing', () => {
    const none = new SecretBox([]);
    expect(none.sealing).toBe(false);
    expect(none.seal(secret, 'sub_1')).toBe(secret);
    expect(none.needsResealing(secret)).toBe(false);
  });

  it('refuses a key id it does not hold', () => {
    const stored = new SecretBox([key('k9', 9)]).seal(secret, 'sub_1');
    expect(() => box.open(stored, 'sub_1')).toThrow(SecretUnreadableError);
    expect(() => box.open(stored, 'sub_1')).toThrow('sealed with key k9, which HERALD_ENCRYPTION_KEY does not hold');
    expect(() => new SecretBox([]).open(stored, 'sub_1')).toThrow('HERALD_ENCRYPTION_KEY is not set');
  });

  it('refuses a key with the right id but other bytes', () => {
    const stored = new SecretBox([key('k2', 7)]).seal(secret, 'sub_1');
    expect(() => box.open(stored, 'sub_1')).toThrow('did not open with key k2');
  });

  it('refuses a tampered ciphertext, IV or tag', () => {
    const stored = box.seal(secret, 'sub_1');
    const [prefix, version, id, iv, sealed] = stored.split(':');
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, 'base64url');
      bytes[at] ^= 1;
      return bytes.toString('base64url');
    };
    const sealedBytes = Buffer.from(sealed, 'base64url').length;
    for (const tampered of [
      [prefix, version, id, iv, flip(sealed, 0)],
      [prefix, version, id, iv, flip(sealed, sealedBytes - 1)],
      [prefix, version, id, flip(iv, 0), sealed],
    ])
      expect(() => box.open(tampered.join(':'), 'sub_1')).toThrow(SecretUnreadableError);
    expect(() => box.open(`${stored}:extra`, 'sub_1')).toThrow('not a well-formed sealed value');
    expect(() => box.open('enc:v1:k2:short', 'sub_1')).toThrow('not a well-formed sealed value');
  });

  it('binds a value to its row: copied into another, it does not open', () => {
    const stored = box.seal(secret, 'sub_1');
    expect(() => box.open(stored, 'sub_2')).toThrow('belongs to another row');
  });
});
