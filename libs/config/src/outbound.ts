/**
 * The outbound policy: which addresses the fleet may connect to on a user's behalf (HTTP hooks,
 * the report webhook, S3 endpoints of targets). Those URLs come from API callers, so without a
 * policy the fleet is a proxy into its own network: the cloud metadata service hands out instance
 * credentials, and a target probe tells open ports from closed ones.
 *
 * Order: OUTBOUND_ALLOW_CIDRS wins, then the metadata addresses and OUTBOUND_DENY_CIDRS deny.
 * Loopback and private ranges are allowed by default: a self-hoster's S3 server, hooks and webhook
 * receiver live on the LAN (and the demo on 127.0.0.1); deny them with OUTBOUND_DENY_CIDRS.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Cloud metadata services: denied unless a CIDR of OUTBOUND_ALLOW_CIDRS names them. */
export const METADATA_CIDRS = [
  '169.254.169.254/32', // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
  '169.254.170.2/32', // AWS ECS task credentials
  'fd00:ec2::254/128', // AWS over IPv6
  '100.100.100.200/32', // Alibaba Cloud
  '169.254.0.0/16', // all of IPv4 link-local, where the others put theirs
  'fe80::/10', // IPv6 link-local
] as const;

/** Parses one CIDR (or a bare address: one host); throws with the reason. */
export function parseCidr(text: string): Range {
  const s = text.trim();
  try {
    if (s.includes('/')) return normalize(ipaddr.parseCIDR(s));
    const a = ipaddr.parse(s);
    return normalize([a, a.kind() === 'ipv4' ? 32 : 128]);
  } catch {
    throw new Error(`${JSON.stringify(s)} is not an IPv4 or IPv6 address or CIDR`);
  }
}

/** An IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) is matched as the IPv4 range it is. */
function normalize([a, bits]: Range): Range {
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
    return [(a as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [a, bits];
}

/** A comma-separated list of CIDRs; empty: none. */
export function parseCidrList(text: string): Range[] {
  return text
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean)
    .map(parseCidr);
}

function matches(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some(([net, bits]) => net.kind() === address.kind() && address.match([net, bits] as never));
}

export class OutboundDenied extends Error {
  override readonly name = 'OutboundDenied';
  readonly code = 'OUTBOUND_DENIED';
}

export class OutboundPolicy {
  private readonly allow: readonly Range[];
  private readonly deny: readonly Range[];

  constructor(opts: { allow?: string; deny?: string } = {}) {
    this.allow = parseCidrList(opts.allow ?? '');
    this.deny = [...METADATA_CIDRS.map(parseCidr), ...parseCidrList(opts.deny ?? '')];
  }

  /** True when the fleet may connect to this literal address. */
  allows(address: string): boolean {
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      a = ipaddr.process(address); // ::ffff:169.254.169.254 is checked as the IPv4 it reaches
    } catch {
      return false;
    }
    if (matches(a, this.allow)) return true;
    return !matches(a, this.deny);
  }

  /**
   * Resolves `host` (a literal address is itself) and checks every address, so a name with one
   * allowed and one denied record is refused. Returns the addresses; throws OutboundDenied.
   */
  async check(host: string): Promise<{ address: string; family: 4 | 6 }[]> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const found = isIP(bare)
      ? [{ address: bare, family: isIP(bare) as 4 | 6 }]
      : (await lookup(bare, { all: true, verbatim: true })).map((r) => ({
          address: r.address,
          family: r.family as 4 | 6,
        }));
    const denied = found.find((r) => !this.allows(r.address));
    if (denied) throw new OutboundDenied(`${host} is a denied address (${denied.address})`);
    return found;
  }
}
