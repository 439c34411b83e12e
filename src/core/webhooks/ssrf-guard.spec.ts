import { addressProblem, urlProblem, type Resolver } from './ssrf-guard';

describe('addressProblem', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.1.2.3', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.5.4', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['0.0.0.0', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.1', /multicast/],
    ['192.0.2.10', /reserved/],
    ['240.0.0.1', /reserved/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['ff02::1', /multicast/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:10.0.0.1', /private/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::127.0.0.1', /loopback/],
    ['::7f00:1', /not a global unicast/],
    ['64:ff9b::7f00:1', /NAT64/],
    ['2002:7f00:1::1', /6to4/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['2001:db8::1', /reserved/],
  ])('%s is refused (%s)', (address, reason) => {
    expect(addressProblem(address)).toMatch(reason);
  });

  it.each([
    '8.8.8.8',
    '93.184.215.14',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '[2a00:1450:4001:80b::200e]',
  ])('%s is allowed', (address) => {
    expect(addressProblem(address)).toBeUndefined();
  });

  it('refuses what is not an address', () => {
    expect(addressProblem('example.com')).toBe('not an IP address');
  });
});

describe('urlProblem', () => {
  const resolvesTo =
    (...addresses: string[]): Resolver =>
    async () =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/hook',
    'https://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://[::1]:8080/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/',
    'http://0x7f.1/',
  ])('refuses %s', async (url) => {
    expect(await urlProblem(url, false, resolvesTo('8.8.8.8'))).toMatch(/webhooks may only target public addresses/);
  });

  it('allows a public address', async () => {
    expect(await urlProblem('https://93.184.215.14/hook', false)).toBeUndefined();
    expect(
      await urlProblem(
        'https://hooks.example.com/x',
        false,
        resolvesTo('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'),
      ),
    ).toBeUndefined();
  });

  it('refuses a hostname that resolves to loopback (localhost, via the system resolver)', async () => {
    expect(await urlProblem('http://localhost:8080/hook', false)).toMatch(
      /^localhost resolves to (127\.0\.0\.1|::1), a loopback address/,
    );
  });

  it('refuses a hostname when any one of its addresses is not public', async () => {
    expect(await urlProblem('https://mixed.example.com/', false, resolvesTo('93.184.215.14', '10.1.2.3'))).toMatch(
      /mixed\.example\.com resolves to 10\.1\.2\.3, a private network address/,
    );
  });

  it('refuses a host that does not resolve', async () => {
    const fails: Resolver = async () => {
      throw new Error('ENOTFOUND');
    };
    expect(await urlProblem('https://nowhere.invalid/', false, fails)).toBe(
      'host nowhere.invalid could not be resolved',
    );
  });

  it.each(['ftp://example.com/x', 'file:///etc/passwd', 'gopher://example.com/', 'javascript:alert(1)'])(
    'refuses the scheme of %s',
    async (url) => {
      expect(await urlProblem(url, false, resolvesTo('93.184.215.14'))).toMatch(/scheme .* is not allowed/);
    },
  );

  it('refuses what is not a URL', async () => {
    expect(await urlProblem('not a url', false)).toBe('not a valid URL');
  });

  it('with WEBHOOK_ALLOW_PRIVATE only the scheme is checked', async () => {
    expect(await urlProblem('http://127.0.0.1:9999/hook', true)).toBeUndefined();
    expect(await urlProblem('ftp://127.0.0.1/', true)).toMatch(/scheme/);
  });
});
