import { isIPv4, isIPv6 } from 'node:net';

/** An IP address as bytes: 4 of them for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** An address range: the bytes of its first address and how many leading bits are fixed. */
export interface Cidr {
  base: IpBytes;
  prefix: number;
}

/**
 * The bytes of a textual address, or undefined when it is not one. Only the canonical spellings are
 * accepted (dotted decimal; IPv6 hex groups, `::`, a dotted tail); an IPv6 zone (`%eth0`) is ignored.
 */
export function parseIp(text: string): IpBytes | undefined {
  const address = text.split('%')[0]!;
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const groupsOf = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head, tail] = address.split('::') as [string, string | undefined];
  const front = groupsOf(head);
  const back = tail === undefined ? [] : groupsOf(tail);
  const groups = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a range of one). */
export function parseCidr(text: string): Cidr | undefined {
  const [address, bits, extra] = text.split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const base = parseIp(address);
  if (!base) return undefined;
  if (bits === undefined) return { base, prefix: base.length * 8 };
  const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  return prefix <= base.length * 8 ? { base, prefix } : undefined;
}

export function cidrContains(range: Cidr, address: IpBytes): boolean {
  if (range.base.length !== address.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (range.base[i] !== address[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (range.base[whole]! & mask) === (address[whole]! & mask);
}

/**
 * IPv6 forms that carry an IPv4 address a connection ends up at: IPv4-mapped (`::ffff:a.b.c.d`),
 * NAT64 (`64:ff9b::a.b.c.d`) and the deprecated IPv4-compatible form (`::a.b.c.d`).
 */
const CARRIERS_OF_IPV4: Cidr[] = ['::ffff:0:0/96', '64:ff9b::/96', '::/96'].map((text) => parseCidr(text)!);

/** The IPv4 address inside such an IPv6 address, or undefined. */
export function embeddedIPv4(address: IpBytes): IpBytes | undefined {
  if (address.length !== 16 || !CARRIERS_OF_IPV4.some((range) => cidrContains(range, address))) return undefined;
  return address.subarray(12);
}

export function formatIPv4(address: IpBytes): string {
  return Array.from(address).join('.');
}
