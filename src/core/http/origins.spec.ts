import { ConfigError, loadConfig } from '../config';
import { OriginPolicy } from './origins';

describe('CORS_ORIGINS', () => {
  const parse = (value: string) => loadConfig({ CORS_ORIGINS: value }).corsOrigins;

  it('is empty by default: no cross-origin access', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(parse('  ')).toEqual([]);
  });

  it('takes exact origins, normalised to what a browser sends in Origin', () => {
    expect(parse('https://app.example.com, http://localhost:5173')).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(parse('https://App.Example.com/,https://app.example.com:443,http://[::1]:8080')).toEqual([
      'https://app.example.com',
      'http://[::1]:8080',
    ]);
  });

  it.each([
    '*',
    'null',
    'app.example.com',
    'ftp://app.example.com',
    'https://app.example.com/app',
    'https://app.example.com/?x=1',
    'https://app.example.com#top',
    'https://user:pass@app.example.com',
    'https://*.example.com',
    'https://app.example.com,',
  ])('refuses %j, naming the variable', (value) => {
    expect(() => parse(value)).toThrow(ConfigError);
    expect(() => parse(value)).toThrow(/^Invalid configuration: CORS_ORIGINS must be /);
  });
});

describe('OriginPolicy', () => {
  const policy = new OriginPolicy({
    corsOrigins: ['https://app.example.com'],
    publicBaseUrl: 'https://herald.example.com',
  });
  const refused = (origin: string | undefined, host = 'herald.internal:3000') =>
    policy.refusedOrigin({ headers: { origin, host } });

  it('lets a handshake without Origin through (clients that are not browsers)', () => {
    expect(refused(undefined)).toBeUndefined();
  });

  it("lets Herald's own pages through: the host the request was sent to, or PUBLIC_BASE_URL", () => {
    expect(refused('http://herald.internal:3000')).toBeUndefined();
    expect(refused('https://herald.example.com')).toBeUndefined();
    expect(refused('https://herald.example.com', 'herald.example.com')).toBeUndefined();
    expect(refused('http://127.0.0.1:3000', '127.0.0.1:3000')).toBeUndefined();
  });

  it('lets an allowed origin through and refuses every other', () => {
    expect(refused('https://app.example.com')).toBeUndefined();
    expect(refused('https://evil.example.net')).toBe('https://evil.example.net');
    // Same host, another port or scheme: another origin.
    expect(refused('http://herald.internal:4000')).toBe('http://herald.internal:4000');
    expect(refused('https://herald.internal:3000', 'herald.internal')).toBe('https://herald.internal:3000');
    expect(refused('http://app.example.com')).toBe('http://app.example.com');
    expect(refused('null')).toBe('null');
  });

  it('allows cross-origin REST calls from the listed origins only', () => {
    expect(policy.allowsCrossOrigin('https://app.example.com')).toBe(true);
    expect(policy.allowsCrossOrigin('https://herald.example.com')).toBe(false);
    expect(policy.allowsCrossOrigin(undefined)).toBe(false);
    expect(new OriginPolicy({ corsOrigins: [], publicBaseUrl: 'http://localhost:3000' }).crossOriginEnabled).toBe(
      false,
    );
  });
});
