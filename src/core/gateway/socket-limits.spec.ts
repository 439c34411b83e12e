import type { Principal } from '../auth/principal';
import { loadConfig } from '../config';
import { MetricsService } from '../health/metrics.service';
import { credentialKey, SocketLimitError, SocketLimits } from './socket-limits';

const principal = (over: Partial<Principal> = {}): Principal => ({
  kind: 'app',
  organisation_id: 'org_a',
  workspace_ids: [],
  scopes: [],
  operator: false,
  credential: 'api_key',
  key_id: 'key_1',
  ...over,
});

function limits(env: Record<string, string>) {
  return new SocketLimits(loadConfig(env), new MetricsService());
}

describe('SocketLimits', () => {
  it('caps sockets per credential, whatever address they come from', () => {
    const l = limits({ WS_MAX_SOCKETS_PER_CREDENTIAL: '2' });
    l.acquire('127.0.0.1', principal());
    const second = l.acquire('127.0.0.2', principal());
    expect(() => l.acquire('127.0.0.3', principal())).toThrow(SocketLimitError);
    expect(() => l.acquire('127.0.0.3', principal())).toThrow(/WS_MAX_SOCKETS_PER_CREDENTIAL is 2/);
    // Another key of the same organisation is not held back.
    l.acquire('127.0.0.3', principal({ key_id: 'key_2' }));
    second.release();
    second.release(); // twice is harmless: it frees one place, not two
    l.acquire('127.0.0.3', principal());
    expect(() => l.acquire('127.0.0.3', principal())).toThrow(SocketLimitError);
  });

  it('caps sockets per remote address, whatever credential they use', () => {
    const l = limits({ WS_MAX_SOCKETS_PER_ADDRESS: '1' });
    const first = l.acquire('10.0.0.1', principal({ key_id: 'a' }));
    expect(() => l.acquire('10.0.0.1', principal({ key_id: 'b' }))).toThrow(/WS_MAX_SOCKETS_PER_ADDRESS is 1/);
    l.acquire('10.0.0.2', principal({ key_id: 'b' }));
    first.release();
    l.acquire('10.0.0.1', principal({ key_id: 'c' }));
  });

  it('counts a JWT by its subject and an API key by its id', () => {
    expect(credentialKey(principal())).toBe('key:key_1');
    expect(credentialKey(principal({ key_id: undefined, credential: 'jwt', kind: 'user', user_id: 'usr_1' }))).toBe(
      'jwt:org_a:usr_1',
    );
    expect(credentialKey(principal({ key_id: undefined, credential: 'jwt' }))).toBe('jwt:org_a:app');
  });
});
