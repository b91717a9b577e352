import { redactUrl } from '../core/redact-url.js';
/**
 * What `--redis` names: one Redis (`redis://`, `rediss://`, parsed by ioredis itself) or a Redis Cluster
 * by some of its nodes (`redis+cluster://[user:password@]host:port,host:port[,…]`, `rediss+cluster://`
 * for TLS), from which the client discovers the rest. A list of hosts is no WHATWG URL, so the cluster
 * form is parsed here.
 */

export interface ClusterTarget {
  seeds: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(.*)$/;
const SINGLE_PROTOCOLS = ['redis:', 'rediss:'];
const DEFAULT_PORT = 6379;

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME.test(url);
}

/** The cluster a `redis+cluster://` URL names, or why it names none. */
export function parseClusterUrl(url: string): ClusterTarget | string {
  const m = CLUSTER_SCHEME.exec(url);
  if (!m) return 'does not start with redis+cluster:// or rediss+cluster://';
  const rest = m[2].replace(/[/?#].*$/, '');
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : '';
  const hosts = (at >= 0 ? rest.slice(at + 1) : rest).split(',');
  const seeds: ClusterTarget['seeds'] = [];
  for (const entry of hosts) {
    // An IPv6 address is bracketed, as in a URL: [::1]:7000.
    const hp = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry.trim());
    if (!hp) return `has no host:port in ${JSON.stringify(entry)}`;
    const port = hp[2] === undefined ? DEFAULT_PORT : Number(hp[2]);
    if (port < 1 || port > 65535) return `has port ${port} out of range`;
    seeds.push({ host: hp[1].replace(/^\[|\]$/g, ''), port });
  }
  const target: ClusterTarget = { seeds, tls: m[1] === 'rediss' };
  if (credentials) {
    const colon = credentials.indexOf(':');
    const user = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : credentials);
    if (user) target.username = user;
    if (colon >= 0) target.password = decodeURIComponent(credentials.slice(colon + 1));
  }
  return target;
}

/** Why `--redis` cannot be used, or undefined when it can. */
export function redisUrlProblem(value: string): string | undefined {
  if (isClusterUrl(value)) {
    const target = parseClusterUrl(value);
    return typeof target === 'string' ? `must be a Redis Cluster URL (redis+cluster://host:port,host:port…): ${JSON.stringify(redactUrl(value))} ${target}` : undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // not a URL at all: said below
  }
  if (url && SINGLE_PROTOCOLS.includes(url.protocol)) return undefined;
  const shown = url ? redactUrl(value) : '(not a URL)';
  return `must be a Redis URL (redis:// or rediss://…) or a Redis Cluster's (redis+cluster://host:port,host:port…), got ${JSON.stringify(shown)}`;
}

