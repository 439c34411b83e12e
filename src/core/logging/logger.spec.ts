import { extractCredential } from '../auth/credentials';
import { isSecretQueryParam, redactUrlQuery } from './logger';

const TOKEN = 'hrld_s3cr3t';

describe('redactUrlQuery', () => {
  it.each([
    ['/ws?access_token=hrld_s3cr3t', '/ws?access_token=[redacted]'],
    ['/ws?access%5Ftoken=hrld_s3cr3t', '/ws?access%5Ftoken=[redacted]'],
    ['/ws?access%5ftoken=hrld_s3cr3t&event_types=a', '/ws?access%5ftoken=[redacted]&event_types=a'],
    ['/ws?%61%63cess_token=hrld_s3cr3t', '/ws?%61%63cess_token=[redacted]'],
    ['/ws?event_types=a&ACCESS_TOKEN=hrld_s3cr3t', '/ws?event_types=a&ACCESS_TOKEN=[redacted]'],
    [
      '/ws?token=hrld_s3cr3t&api_key=hrld_s3cr3t&key=hrld_s3cr3t',
      '/ws?token=[redacted]&api_key=[redacted]&key=[redacted]',
    ],
    ['/ws?access-token=hrld_s3cr3t&x-api-key=hrld_s3cr3t', '/ws?access-token=[redacted]&x-api-key=[redacted]'],
    ['/ws??access_token=hrld_s3cr3t', '/ws??access_token=[redacted]'],
    ['/ws?a=1;access_token=hrld_s3cr3t#token=hrld_s3cr3t', '/ws?a=1;access_token=[redacted]#token=[redacted]'],
    ['/ws?access_token=hrld_s3cr3t&access_token=hrld_s3cr3t', '/ws?access_token=[redacted]&access_token=[redacted]'],
    ['/ws?access_token=a=b=hrld_s3cr3t', '/ws?access_token=[redacted]'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrlQuery(url)).toBe(expected);
  });

  it('leaves other URLs alone', () => {
    for (const url of [
      '/api/v1/events',
      '/api/v1/events?after=10&limit=5',
      '/ws?access_token',
      '/ws?tokens=1&monkey=2',
      '/ws?%zz=1&=2&&',
    ]) {
      expect(redactUrlQuery(url)).toBe(url);
    }
    expect(redactUrlQuery(undefined)).toBeUndefined();
  });

  it('hides every query parameter the credential extractor would accept, however it is encoded', () => {
    const names = [
      'access_token',
      'access%5Ftoken',
      'access%5ftoken',
      '%61ccess_token',
      'acc%65ss%5Ft%6Fken',
      'ACCESS_TOKEN',
      'access+token',
      'access_token%00',
    ];
    for (const name of names) {
      for (const query of [`${name}=${TOKEN}`, `a=1&${name}=${TOKEN}&b=2`]) {
        const url = `/api/v1/ws/subscribe?${query}`;
        const params = new URL(url, 'http://localhost').searchParams;
        const accepted =
          extractCredential({}, params, true) === TOKEN ||
          extractCredential({}, Object.fromEntries(params), true) === TOKEN;
        if (accepted) expect(redactUrlQuery(url)).not.toContain(TOKEN);
      }
    }
    // And the encodings that are accepted are all hidden.
    expect(extractCredential({}, new URL(`/ws?access%5Ftoken=${TOKEN}`, 'http://x').searchParams, true)).toBe(TOKEN);
    expect(redactUrlQuery(`/ws?access%5Ftoken=${TOKEN}`)).not.toContain(TOKEN);
  });

  it('judges names after decoding', () => {
    expect(isSecretQueryParam('access_token')).toBe(true);
    expect(isSecretQueryParam('Api_Key')).toBe(true);
    expect(isSecretQueryParam('event_types')).toBe(false);
    expect(isSecretQueryParam('last_seq')).toBe(false);
  });
});
