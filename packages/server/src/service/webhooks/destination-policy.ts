import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { cidrContains, embeddedIPv4, formatIPv4, parseCidr, parseIp, type Cidr, type IpBytes } from './ip-address.js';

/**
 * Where webhooks may be sent. A receiver URL comes from configuration, but what its name resolves
 * to, and where a receiver would like to send us next, do not: without this, one endpoint is enough
 * to make Hubbub POST into its own network (an admin port on loopback, a database on 10/8, the cloud
 * metadata service at 169.254.169.254).
 */
export interface DestinationPolicyOptions {
  /** Send to any address, private ones included (receivers on the same host or network). */
  allowPrivate?: boolean;
  /**
   * Exceptions while private addresses stay refused: host names (matched exactly, case-insensitively;
   * what they resolve to is trusted), addresses and CIDRs (`10.0.0.0/8`, `fd00::/8`).
   */
  allow?: readonly string[];
  /** Name resolution; every address of the name (dns.lookup with `all`). Replaced in tests. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

/** Refused ranges, by what they are; a message says "<address> is <description>". */
const REFUSED_RANGES: Array<{ description: string; cidrs: string[] }> = [
  { description: 'a loopback address', cidrs: ['127.0.0.0/8', '::1/128'] },
  { description: 'a private address', cidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'] },
  { description: 'a link-local address (where cloud metadata services answer)', cidrs: ['169.254.0.0/16', 'fe80::/10'] },
  { description: 'the unspecified address (this host)', cidrs: ['0.0.0.0/8', '::/128'] },
  { description: 'a shared address (carrier-grade NAT, some cloud metadata services)', cidrs: ['100.64.0.0/10'] },
  { description: 'a multicast address', cidrs: ['224.0.0.0/4', 'ff00::/8'] },
  { description: 'a reserved address', cidrs: ['240.0.0.0/4'] },
];

const REFUSED: Array<{ description: string; range: Cidr }> = REFUSED_RANGES.flatMap(({ description, cidrs }) =>
  cidrs.map((cidr) => ({ description, range: parseCidr(cidr)! })),
);

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const resolveAll = (hostname: string): Promise<LookupAddress[]> =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

export class DestinationPolicy {
  private readonly allowPrivate: boolean;
  private readonly allowedHosts = new Set<string>();
  private readonly allowedRanges: Cidr[] = [];
  private readonly resolve: (hostname: string) => Promise<LookupAddress[]>;

  constructor(options: DestinationPolicyOptions = {}) {
    this.allowPrivate = options.allowPrivate ?? false;
    this.resolve = options.resolve ?? resolveAll;
    for (const entry of options.allow ?? []) {
      const range = parseCidr(entry.trim());
      if (range) {
        this.allowedRanges.push(range);
        continue;
      }
      const host = normaliseHost(entry.trim());
      if (!HOST_NAME.test(host) || /^[\d.]+$/.test(host)) {
        throw new HubbubError(ErrorCode.BadFrame, `webhook allow list: ${JSON.stringify(entry)} is neither a host name, an IP address nor a CIDR`);
      }
      this.allowedHosts.add(host);
    }
  }

  /** Why a connection to `address` is refused, or undefined when it may be made. */
  refusal(address: string): string | undefined {
    const description = this.describeRefused(address);
    return description && `${address} is ${description}`;
  }

  /**
   * Why a delivery to `url` is refused before any connection: a scheme other than http(s), or a
   * host that is a refused IP literal (Node connects to those without a lookup). A host name passes
   * here and is judged by `lookup` on what it resolves to.
   */
  refusalOfUrl(url: URL): string | undefined {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.protocol} is not http: or https:`;
    const host = normaliseHost(url.hostname);
    if (this.allowedHosts.has(host) || isIP(host) === 0) return undefined;
    return this.refusal(host);
  }

  /**
   * The `lookup` given to the request: it resolves the name itself and hands the socket only
   * addresses it has checked, so the address judged is the address connected to (a name that
   * answers "public" to a first query and "127.0.0.1" to the next gains nothing). A name with any
   * refused address among its answers is refused whole.
   */
  readonly lookup: LookupFunction = (hostname: string, options: LookupOptions, callback) => {
    this.checkedAddresses(hostname, options).then(
      (addresses) => (options.all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)),
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  private async checkedAddresses(hostname: string, options: LookupOptions): Promise<LookupAddress[]> {
    const answers = await this.resolve(hostname);
    if (!this.allowedHosts.has(normaliseHost(hostname))) {
      for (const { address } of answers) {
        const description = this.describeRefused(address);
        if (description) throw new HubbubError(ErrorCode.Forbidden, `${hostname} resolves to ${address}, ${description}`);
      }
    }
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const wanted = answers.filter((a) => !family || a.family === family);
    if (wanted.length === 0) throw Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND', hostname });
    return wanted;
  }

  private describeRefused(address: string): string | undefined {
    if (this.allowPrivate) return undefined;
    const bytes = parseIp(address);
    if (!bytes) return 'not an IP address';
    const inner = embeddedIPv4(bytes);
    const forms = inner ? [bytes, inner] : [bytes];
    if (forms.some((form) => this.allowedRanges.some((range) => cidrContains(range, form)))) return undefined;
    for (const form of forms) {
      const refused = refusedRange(form);
      if (refused) return form === bytes ? refused : `${refused} (it carries the IPv4 address ${formatIPv4(form)})`;
    }
    return undefined;
  }
}

function refusedRange(address: IpBytes): string | undefined {
  return REFUSED.find(({ range }) => cidrContains(range, address))?.description;
}

/** URL hosts keep IPv6 in brackets and may end with the root dot; names compare case-insensitively. */
function normaliseHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}
