import { Webhook } from 'standardwebhooks';
import { generateSecret, signedRequest } from './webhook-request';

describe('signedRequest', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ id: 'evt_1', type: 'claim_approved', data: { amount: 4850 } });

  it('is verified unchanged by the Standard Webhooks library', () => {
    const req = signedRequest({ url: 'https://hooks.example.com/x', secret, headers: {} }, 'dlv_1', body, new Date());
    expect(new Webhook(secret).verify(req.body, req.headers)).toEqual(JSON.parse(body));
    expect(req).toMatchObject({ url: 'https://hooks.example.com/x', method: 'POST' });
    expect(req.headers).toMatchObject({
      'webhook-id': 'dlv_1',
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
    });
  });

  it('does not verify with another secret', () => {
    const req = signedRequest({ url: 'https://hooks.example.com/x', secret, headers: {} }, 'dlv_1', body, new Date());
    expect(() => new Webhook(generateSecret()).verify(req.body, req.headers)).toThrow();
  });

  it('adds the endpoint headers but never lets them replace its own', () => {
    const req = signedRequest(
      {
        url: 'https://hooks.example.com/x',
        secret,
        headers: {
          Authorization: 'Bearer abc',
          'Webhook-Id': 'forged',
          'Content-Type': 'text/plain',
          'User-Agent': 'x',
          Host: 'evil',
        },
      },
      'dlv_2',
      body,
      new Date(),
    );
    expect(req.headers).toMatchObject({
      authorization: 'Bearer abc',
      'webhook-id': 'dlv_2',
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
    });
    expect(req.headers.host).toBeUndefined();
    expect(Object.keys(req.headers).filter((k) => k.toLowerCase() === 'webhook-id')).toHaveLength(1);
  });

  it('timestamps each attempt while the id stays the same', () => {
    const endpoint = { url: 'https://hooks.example.com/x', secret, headers: {} };
    const first = signedRequest(endpoint, 'dlv_3', body, new Date('2026-03-26T08:00:00Z'));
    const retry = signedRequest(endpoint, 'dlv_3', body, new Date('2026-03-26T08:05:00Z'));
    expect(first.headers['webhook-id']).toBe(retry.headers['webhook-id']);
    expect(Number(retry.headers['webhook-timestamp']) - Number(first.headers['webhook-timestamp'])).toBe(300);
  });
});

describe('signing during a secret rotation', () => {
  const body = JSON.stringify({ id: 'evt_1', type: 'claim_approved' });
  const current = generateSecret();
  const previous = generateSecret();
  const at = new Date();
  const endpoint = (until: string | null) => ({
    url: 'https://hooks.example.com/x',
    secret: current,
    headers: {},
    previous_secret: previous,
    previous_secret_until: until,
  });

  it('signs with both secrets while the previous one is in its overlap, the new one first', () => {
    const req = signedRequest(endpoint(new Date(at.getTime() + 1000).toISOString()), 'dlv_1', body, at);
    const parts = req.headers['webhook-signature'].split(' ');
    expect(parts).toEqual([
      new Webhook(current).sign('dlv_1', at, body),
      new Webhook(previous).sign('dlv_1', at, body),
    ]);
    expect(parts.every((p) => /^v1,[A-Za-z0-9+/]+=*$/.test(p))).toBe(true);
    expect(new Webhook(current).verify(req.body, req.headers)).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(req.body, req.headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateSecret()).verify(req.body, req.headers)).toThrow();
  });

  it('signs with the current secret only once the overlap has passed, or when there is none', () => {
    for (const until of [at.toISOString(), new Date(at.getTime() - 1).toISOString(), null]) {
      const req = signedRequest(endpoint(until), 'dlv_2', body, at);
      expect(req.headers['webhook-signature']).toBe(new Webhook(current).sign('dlv_2', at, body));
      expect(() => new Webhook(previous).verify(req.body, req.headers)).toThrow();
    }
    const withoutPrevious = { url: 'https://hooks.example.com/x', secret: current, headers: {} };
    expect(signedRequest(withoutPrevious, 'dlv_3', body, at).headers['webhook-signature'].split(' ')).toHaveLength(1);
  });
});

describe('generateSecret', () => {
  it('is whsec_ + base64 of 24 random bytes', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(24);
    expect(generateSecret()).not.toBe(secret);
  });
});
