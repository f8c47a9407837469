import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Resolves a host name to every address it has (injectable so tests can make a name change its answer). */
export type HostResolver = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));

/** Loopback, private, link-local (metadata services live there), shared, reserved and multicast ranges. */
const REFUSED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address, which reaches that IPv4 host. */
function embeddedIpv4(address: string): string | undefined {
  const match = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!match) return undefined;
  if (match[1]) return match[1];
  const high = parseInt(match[2], 16);
  const low = parseInt(match[3], 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !REFUSED.check(address, 'ipv4');
  if (family !== 6) return false;
  const v4 = embeddedIpv4(address.toLowerCase());
  if (v4 !== undefined) return !REFUSED.check(v4, 'ipv4');
  return !REFUSED.check(address, 'ipv6');
}

export class WebhookAddressError extends Error {}

/** A URL's host name as DNS and isIP know it: IPv6 literals lose their brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Where webhooks may go. In production: https only, and every address the name resolves to must be
 * public, checked when the endpoint is saved and again for each delivery, whose connection then
 * goes to the address checked (no second lookup a rebinding DNS could answer differently).
 * Elsewhere any http(s) URL is allowed, so a receiver on loopback can be used in development and tests.
 */
export class WebhookAddressPolicy {
  constructor(
    private readonly strict: boolean,
    private readonly resolve: HostResolver = systemResolver,
  ) {}

  /** The URL, parsed, or a WebhookAddressError saying why it is refused. */
  parseOrThrow(text: string): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new WebhookAddressError('url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookAddressError('url must be an http(s) URL');
    if (this.strict && url.protocol !== 'https:') throw new WebhookAddressError('url must use https');
    if (url.username || url.password) throw new WebhookAddressError('url must not carry credentials');
    return url;
  }

  /** The address to connect to for this delivery (or this save), after checking every address of the host. */
  async pinOrThrow(url: URL): Promise<{ address: string; family: 4 | 6 }> {
    const host = hostOf(url);
    const literal = isIP(host);
    let addresses: Array<{ address: string; family: 4 | 6 }>;
    if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
    else {
      try {
        addresses = await this.resolve(host);
      } catch {
        throw new WebhookAddressError('its host does not resolve');
      }
    }
    if (addresses.length === 0) throw new WebhookAddressError('its host does not resolve');
    if (this.strict) {
      const refused = addresses.find((entry) => !isPublicAddress(entry.address));
      if (refused) throw new WebhookAddressError('its host is or resolves to a loopback, private, link-local, metadata or reserved address');
    }
    return addresses[0];
  }
}
