import { describe, expect, it } from 'vitest';
import type { LookupAddress } from 'node:dns';
import { DestinationPolicy, type DestinationPolicyOptions } from '../src/service/webhooks/destination-policy.js';

/** Run the policy's `lookup` the way `net.connect` does (with and without `all`). */
function lookup(policy: DestinationPolicy, hostname: string, all = true): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    policy.lookup(hostname, { all, family: 0 }, (err: Error | null, address: string | LookupAddress[], family?: number) => {
      if (err) return reject(err);
      resolve(Array.isArray(address) ? address : [{ address, family: family! }]);
    });
  });
}

/** A policy whose name resolution answers from a table instead of DNS. */
function withNames(names: Record<string, string[]>, options: DestinationPolicyOptions = {}): DestinationPolicy {
  return new DestinationPolicy({
    ...options,
    resolve: async (hostname) => {
      const addresses = names[hostname];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  });
}

const policy = new DestinationPolicy();

describe('destination policy: addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['169.254.0.1', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['100.64.0.1', 'shared'],
    ['100.100.100.200', 'shared'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    // IPv4-mapped IPv6 reaches the IPv4 address it carries: judged as that address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::FFFF:10.0.0.1', 'private'],
    ['::ffff:ac10:1', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    // NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form carry an IPv4 address too.
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::169.254.169.254', 'link-local'],
    ['::127.0.0.1', 'loopback'],
  ])('refuses %s (%s)', (address, kind) => {
    const why = policy.refusal(address);
    expect(why).toContain(kind);
    expect(why).toContain(address);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '9.255.255.255',
    '11.0.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '192.169.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '1.0.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2001:db8::1',
    'fbff:ffff::1',
    'fec0::1',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('allows the public address %s', (address) => {
    expect(policy.refusal(address)).toBeUndefined();
  });

  it('with allowPrivate, refuses nothing', () => {
    const open = new DestinationPolicy({ allowPrivate: true });
    for (const address of ['127.0.0.1', '::1', '10.0.0.1', '169.254.169.254', '0.0.0.0', '::ffff:127.0.0.1']) {
      expect(open.refusal(address), address).toBeUndefined();
    }
  });

  it('an allow list opens only the CIDRs and addresses it names', () => {
    const some = new DestinationPolicy({ allow: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'] });
    expect(some.refusal('10.20.30.40')).toBeUndefined();
    expect(some.refusal('::ffff:10.0.0.1')).toBeUndefined();
    expect(some.refusal('192.168.1.7')).toBeUndefined();
    expect(some.refusal('fd00::5')).toBeUndefined();
    expect(some.refusal('192.168.1.8')).toContain('private');
    expect(some.refusal('fc00::5')).toContain('private');
    expect(some.refusal('127.0.0.1')).toContain('loopback');
    expect(some.refusal('169.254.169.254')).toContain('link-local');
  });

  it('rejects an allow list entry that is neither a host, an address nor a CIDR', () => {
    expect(() => new DestinationPolicy({ allow: ['10.0.0.0/33'] })).toThrow(/10\.0\.0\.0\/33/);
    expect(() => new DestinationPolicy({ allow: ['::1/129'] })).toThrow();
    expect(() => new DestinationPolicy({ allow: ['not a host'] })).toThrow();
  });
});

describe('destination policy: URLs', () => {
  // Node's WHATWG URL parser rewrites every IPv4 spelling to dotted decimal, and IPv6 to its
  // compressed hex form in brackets, before the policy sees the host.
  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://0xa9fea9fe/', '169.254.169.254'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[::1]:8080/', '[::1]'],
    ['http://[0:0::1]/', '[::1]'],
  ])('%s is host %s and refused', (url, host) => {
    expect(new URL(url).hostname).toBe(host);
    expect(policy.refusalOfUrl(new URL(url))).toMatch(/loopback|unspecified|link-local/);
  });

  it('a public literal and a name pass the URL check (names are checked when resolved)', () => {
    expect(policy.refusalOfUrl(new URL('https://8.8.8.8/hooks'))).toBeUndefined();
    expect(policy.refusalOfUrl(new URL('https://[2606:4700::1111]/hooks'))).toBeUndefined();
    expect(policy.refusalOfUrl(new URL('https://hooks.example.com/x'))).toBeUndefined();
  });

  it('refuses schemes other than http and https', () => {
    expect(policy.refusalOfUrl(new URL('file:///etc/passwd'))).toMatch(/http/);
    expect(policy.refusalOfUrl(new URL('ftp://8.8.8.8/'))).toMatch(/http/);
  });

  it('an allowed host name skips the checks, for that name only', () => {
    const some = withNames({ 'hooks.internal': ['10.0.0.9'], 'other.internal': ['10.0.0.9'] }, { allow: ['Hooks.Internal'] });
    expect(some.refusalOfUrl(new URL('http://hooks.internal/'))).toBeUndefined();
    return Promise.all([
      expect(lookup(some, 'hooks.internal')).resolves.toEqual([{ address: '10.0.0.9', family: 4 }]),
      expect(lookup(some, 'other.internal')).rejects.toThrow(/private/),
    ]);
  });
});

describe('destination policy: name resolution (the address checked is the address connected to)', () => {
  it('localhost resolves to loopback and is refused', async () => {
    await expect(lookup(policy, 'localhost')).rejects.toThrow(/localhost.*loopback/);
    await expect(lookup(policy, 'localhost', false)).rejects.toThrow(/loopback/);
  });

  it('a public name resolves to the addresses that were checked, in the shape asked for', async () => {
    const names = withNames({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    await expect(lookup(names, 'hooks.example.com')).resolves.toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
    await expect(lookup(names, 'hooks.example.com', false)).resolves.toEqual([{ address: '93.184.216.34', family: 4 }]);
  });

  it('a name with any private address among its answers is refused (no picking the public one by luck)', async () => {
    const names = withNames({ 'rebind.example.com': ['93.184.216.34', '10.0.0.1'], 'mapped.example.com': ['::ffff:169.254.169.254'] });
    await expect(lookup(names, 'rebind.example.com')).rejects.toThrow(/rebind\.example\.com.*10\.0\.0\.1.*private/);
    await expect(lookup(names, 'mapped.example.com')).rejects.toThrow(/link-local/);
  });

  it('resolution errors pass through unchanged', async () => {
    await expect(lookup(withNames({}), 'nowhere.example.com')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('with allowPrivate, localhost resolves', async () => {
    const open = new DestinationPolicy({ allowPrivate: true });
    const addresses = await lookup(open, 'localhost');
    expect(addresses.length).toBeGreaterThan(0);
  });
});
