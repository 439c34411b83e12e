import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * SSRF guard (docs/api-contracts.md "Webhook delivery"): a webhook may only reach globally routable unicast
 * addresses. The same check runs when a subscription is saved and again on every connection,
 * inside the DNS lookup the HTTP client connects with, so the address that was checked is the
 * address that is dialled (a DNS answer that changes between check and connect cannot slip
 * through).
 */

/** Raised when a target resolves to an address webhooks may not reach. */
export class UndeliverableAddressError extends Error {
  readonly code = 'HERALD_UNDELIVERABLE_ADDRESS';
}

const READABLE_RANGES: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (this includes cloud metadata services)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address',
  private: 'a private network address',
  reserved: 'a reserved address',
  uniqueLocal: 'a unique-local (private) IPv6 address',
  deprecatedSiteLocal: 'a site-local IPv6 address',
  rfc6145: 'an IPv4-translated IPv6 address',
  rfc6052: 'a NAT64 address (IPv4 embedded in IPv6)',
  '6to4': 'a 6to4 address (IPv4 embedded in IPv6)',
  teredo: 'a Teredo address (IPv4 embedded in IPv6)',
};

// Global unicast IPv6 space; everything outside it is special-purpose.
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Why `address` (an IP literal) may not receive webhooks, or undefined when it may.
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged by the IPv4 address it carries.
 */
export function addressProblem(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return 'not an IP address';
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return addressProblem(v6.toIPv4Address().toString());
    const range = v6.range();
    if (range !== 'unicast') return READABLE_RANGES[range] ?? `a special-purpose address (${range})`;
    // `::a.b.c.d` (IPv4-compatible) and other addresses outside 2000::/3 fall here.
    if (!v6.match(GLOBAL_UNICAST_V6)) return 'not a global unicast IPv6 address';
    return undefined;
  }
  const range = parsed.range();
  if (range === 'unicast') return undefined;
  return READABLE_RANGES[range] ?? `a special-purpose address (${range})`;
}

function refusal(host: string, address: string, problem: string): string {
  return host === address
    ? `${address} is ${problem}; webhooks may only target public addresses`
    : `${host} resolves to ${address}, ${problem}; webhooks may only target public addresses`;
}

/** The hostname of a URL without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * What can be told without DNS: the URL's shape, and its host when that is an IP literal. Runs
 * before every request too, because Node does no lookup for IP literals, so `guardedLookup`
 * never sees them.
 */
export function problemBeforeLookup(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `scheme "${url.protocol.replace(/:$/, '')}" is not allowed; use http or https`;
  const host = hostOf(url);
  if (allowPrivate || !isIP(host)) return undefined;
  const problem = addressProblem(host);
  return problem && refusal(host, host, problem);
}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/**
 * Why `raw` cannot receive webhooks, or undefined when it can. With `allowPrivate` only the
 * URL's shape is checked.
 */
export async function urlProblem(
  raw: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<string | undefined> {
  const early = problemBeforeLookup(raw, allowPrivate);
  if (early || allowPrivate) return early;
  const host = hostOf(new URL(raw));
  if (isIP(host)) return undefined;
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    return `host ${host} could not be resolved`;
  }
  if (!addresses.length) return `host ${host} could not be resolved`;
  for (const { address } of addresses) {
    const problem = addressProblem(address);
    if (problem) return refusal(host, address, problem);
  }
  return undefined;
}

/**
 * A `lookup` for the HTTP client's connections: resolves as usual but fails when any answer
 * is not public. Node calls it with `all: true` when it races IPv4 and IPv6 (autoSelectFamily).
 */
export function guardedLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      const done = callback as (err: Error | null, address?: string | LookupAddress[], family?: number) => void;
      if (err) return done(err);
      for (const { address } of addresses) {
        const problem = addressProblem(address);
        if (problem) return done(new UndeliverableAddressError(refusal(hostname, address, problem)));
      }
      if (!addresses.length) return done(new UndeliverableAddressError(`host ${hostname} could not be resolved`));
      if (options.all) return done(null, addresses);
      return done(null, addresses[0].address, addresses[0].family);
    });
  };
}
