import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { KeyStore, parseKeyName } from '../keys.js';
import { endpointForLog } from './delivery.js';
import type { WebhookEndpoint } from './targets.js';

/**
 * Endpoints that sign with an API key (`key`, the `pusher` format) get the key bound: checked now,
 * so a typo or a revoked key stops `serve` at start rather than failing every attempt, and then
 * looked up per attempt, so a key revoked later stops signing (those attempts fail and are retried,
 * logged with why). Endpoints without `key` are returned as they are.
 */
export function bindWebhookKeys(endpoints: readonly WebhookEndpoint[], keysFile: string): WebhookEndpoint[] {
  if (!endpoints.some((e) => e.key !== undefined)) return [...endpoints];
  const keys = new KeyStore(keysFile);
  const problems: string[] = [];
  const bound = endpoints.map((endpoint, i) => {
    if (endpoint.key === undefined) return endpoint;
    const problem = keyProblem(keys, endpoint);
    if (problem) problems.push(`webhooks[${i}] (${endpointForLog(endpoint.url)}): ${problem}`);
    const name = endpoint.key;
    return { ...endpoint, signingKey: () => signingKeyOf(keys, name) };
  });
  if (problems.length) throw new HubbubError(ErrorCode.Bootstrap, `${problems.join('; ')} (make one with: hubbub keys create --app APP)`);
  return bound;
}

function keyProblem(keys: KeyStore, endpoint: WebhookEndpoint): string | undefined {
  const name = endpoint.key!;
  const parsed = parseKeyName(name);
  if (!parsed) return `"key" must be an API key name APP.KEYID, got ${JSON.stringify(name)}`;
  if (parsed.app !== endpoint.app) return `"key" ${name} belongs to app ${parsed.app}, not to the endpoint's app ${endpoint.app}`;
  try {
    signingKeyOf(keys, name);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The key's id and secret as they are now; throws (40101) once it is unknown, revoked or hash-only. */
function signingKeyOf(keys: KeyStore, name: string): { keyId: string; secret: string } {
  const { keyId, secret } = keys.byName(name);
  return { keyId, secret };
}
