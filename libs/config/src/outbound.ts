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
import type { LookupAddress, LookupOptions } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';

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

/**
 * A connection the policy refused. The message names the host only (what the caller gave); the
 * addresses it resolved to are kept apart, for the server log, so an error shown to an API user does
 * not tell what answered for a name.
 */
export class OutboundDenied extends Error {
  override readonly name = 'OutboundDenied';
  readonly code = 'OUTBOUND_DENIED';
  constructor(
    readonly host: string,
    readonly addresses: readonly string[] = [],
  ) {
    super(`connection to ${host} refused by the outbound policy`);
  }
}

/** Resolves a name to every address it has (the default: the system resolver, as sockets use). */
export type Resolver = (host: string) => Promise<LookupAddress[]>;

export interface OutboundPolicyOptions {
  /** OUTBOUND_ALLOW_CIDRS. */
  allow?: string;
  /** OUTBOUND_DENY_CIDRS. */
  deny?: string;
  /** Replaces the system resolver (tests point a name at a chosen address with it). */
  resolve?: Resolver;
  /** Told about every refused connection, with the addresses: the specific server-side log line. */
  onDenied?: (denied: OutboundDenied) => void;
}

const systemResolve: Resolver = (host) => lookup(host, { all: true, verbatim: true });

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export class OutboundPolicy {
  private readonly allow: readonly Range[];
  private readonly deny: readonly Range[];

  private readonly resolve: Resolver;
  private readonly onDenied: (denied: OutboundDenied) => void;
  private agents: { http?: http.Agent; https?: https.Agent } = {};

  constructor(opts: OutboundPolicyOptions = {}) {
    this.allow = parseCidrList(opts.allow ?? '');
    this.deny = [...METADATA_CIDRS.map(parseCidr), ...parseCidrList(opts.deny ?? '')];
    this.resolve = opts.resolve ?? systemResolve;
    this.onDenied = opts.onDenied ?? (() => undefined);
  }

  private refuse(host: string, addresses: readonly string[]): OutboundDenied {
    const denied = new OutboundDenied(host, addresses);
    this.onDenied(denied);
    return denied;
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
    const name = bare(host);
    const found = isIP(name)
      ? [{ address: name, family: isIP(name) as 4 | 6 }]
      : (await this.resolve(name)).map((r) => ({ address: r.address, family: r.family as 4 | 6 }));
    if (found.some((r) => !this.allows(r.address))) {
      throw this.refuse(
        host,
        found.map((r) => r.address),
      );
    }
    return found;
  }

  /**
   * A `lookup` for sockets (net.connect, http.Agent): resolves the name, keeps only the addresses
   * the policy allows and hands those to the socket, so the address checked is the address
   * connected to. A separate check before the request would not do: a name with a short TTL can
   * answer the check with a public address and the connection with 169.254.169.254 (DNS
   * rebinding). None allowed: an OutboundDenied error (code OUTBOUND_DENIED) on the socket.
   */
  readonly lookup: LookupFunction = (hostname, options: LookupOptions, callback) => {
    this.resolve(hostname).then(
      (found) => {
        const f = options.family;
        const wanted = f === 4 || f === 'IPv4' ? 4 : f === 6 || f === 'IPv6' ? 6 : 0;
        const allowed = found.filter((r) => (wanted === 0 || r.family === wanted) && this.allows(r.address));
        if (allowed.length === 0) {
          callback(
            this.refuse(
              hostname,
              found.map((r) => r.address),
            ),
            '',
          );
        } else if (options.all) {
          callback(null, allowed);
        } else {
          callback(null, allowed[0]!.address, allowed[0]!.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  /**
   * An http(s) Agent whose every connection goes through the policy: names through `lookup`
   * above, address literals (which sockets connect to without a lookup) checked here.
   */
  createAgent(secure: boolean, options: http.AgentOptions = {}): http.Agent {
    return secure ? new GuardedHttpsAgent(this, options) : new GuardedHttpAgent(this, options);
  }

  /** One shared agent per scheme, without keep-alive (hooks and webhooks call seldom). */
  agent(secure: boolean): http.Agent {
    if (secure) return (this.agents.https ??= this.createAgent(true) as https.Agent);
    return (this.agents.http ??= this.createAgent(false));
  }

  /** Null when `host` may be connected to without a lookup (a name, or an allowed literal). */
  literalDenied(host: string | null | undefined): OutboundDenied | null {
    const name = bare(host ?? '');
    if (isIP(name) === 0 || this.allows(name)) return null;
    return this.refuse(host ?? '', [name]);
  }
}

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/**
 * An address literal never reaches the lookup, so both agents check it before connecting; a refusal
 * goes to the agent's own callback (the request fails with it, no socket is opened).
 */
function guardedConnection<T>(
  policy: OutboundPolicy,
  options: http.ClientRequestArgs,
  callback: ConnectCallback | undefined,
  connect: () => T,
): T | undefined {
  const denied = policy.literalDenied(options.host);
  if (!denied) return connect();
  callback?.(denied, undefined as never);
  return undefined;
}

class GuardedHttpAgent extends http.Agent {
  constructor(
    private readonly policy: OutboundPolicy,
    options: http.AgentOptions,
  ) {
    super({ ...options, lookup: policy.lookup });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback) {
    return guardedConnection(this.policy, options, callback, () => super.createConnection(options, callback));
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(
    private readonly policy: OutboundPolicy,
    options: https.AgentOptions,
  ) {
    super({ ...options, lookup: policy.lookup });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback) {
    return guardedConnection(this.policy, options, callback, () => super.createConnection(options, callback));
  }
}

/**
 * The policy of a process's config (OUTBOUND_*_CIDRS). Each refusal is logged with the addresses
 * the name resolved to: the specific reason stays in the server log, while callers show users only
 * that the policy refused the connection.
 */
export function outboundPolicyOf(
  config: { outboundAllowCidrs: string; outboundDenyCidrs: string },
  logger?: { warn(obj: object, msg: string): void },
  resolve?: Resolver,
): OutboundPolicy {
  return new OutboundPolicy({
    allow: config.outboundAllowCidrs,
    deny: config.outboundDenyCidrs,
    ...(resolve ? { resolve } : {}),
    ...(logger
      ? {
          onDenied: (d: OutboundDenied) =>
            logger.warn(
              { host: d.host, addresses: d.addresses },
              'outbound connection refused by the policy',
            ),
        }
      : {}),
  });
}
