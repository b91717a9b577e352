// `POST /token { name }` → `{ token, clientId, name, expiresAt }`: the example's backend asks
// `hubbub serve` for a short-lived token with its API key, so the key never reaches the browser.
// A real app takes the user from its session here; this demo trusts the name typed in.
import { createHash } from 'node:crypto';

const MAX_NAME = 40;
const MAX_BODY_BYTES = 4096;
const TOKEN_TTL = '1h';
/** What a chat user may do: rooms are `chat:<room>`, nothing else. */
const CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence', 'history'] };

/** A refusal the page shows as is. */
export class TokenError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The display name as the person typed it, tidied; a TokenError says what is wrong with it. */
export function displayName(raw) {
  if (typeof raw !== 'string') throw new TokenError(400, 'send a JSON body { "name": "…" }');
  const name = raw.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (!name) throw new TokenError(400, 'type a name to join');
  if (/\p{Cc}|\p{Cf}/u.test(name)) throw new TokenError(400, 'the name has invisible or control characters');
  if ([...name].length > MAX_NAME) throw new TokenError(400, `the name is too long: at most ${MAX_NAME} characters`);
  return name;
}

/**
 * A client id for a display name. Client ids are 1-128 of `[A-Za-z0-9._:@+-]`, display names are
 * anything: keep what is safe of the name (readable in logs and the admin page) and add a hash of the
 * whole name, so "Zoë Ng" and "Zoe Ng" stay two people. The page shows the name from presence and
 * message data, never the client id.
 */
export function clientIdFor(name) {
  const readable = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 32);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${readable || 'user'}.${hash}`;
}

/** Handle the request: the caller has checked the method and path. */
export async function tokenEndpoint(req, res, { hubbubUrl, apiKey }) {
  try {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new TokenError(415, 'send JSON (content-type: application/json)');
    const body = await readJson(req);
    const name = displayName(body?.name);
    const clientId = clientIdFor(name);
    const minted = await requestToken(hubbubUrl, apiKey, clientId);
    send(res, 200, { token: minted.token, expiresAt: minted.expiresAt, clientId, name });
  } catch (err) {
    const status = err instanceof TokenError ? err.status : 500;
    send(res, status, { error: { message: err instanceof TokenError ? err.message : `token endpoint failed: ${err.message}` } });
  }
}

/** `POST /auth/token` on hubbub serve; its refusals and its absence both become a TokenError. */
async function requestToken(hubbubUrl, apiKey, clientId) {
  let res;
  try {
    res = await fetch(`${hubbubUrl}/auth/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId, ttl: TOKEN_TTL, capability: CAPABILITY }),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    const why = err.cause?.code ?? err.name ?? err.message;
    throw new TokenError(502, `cannot reach hubbub serve at ${hubbubUrl} (${why}): is it running?`);
  }
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = answer.error ?? {};
    throw new TokenError(502, `hubbub serve refused the token request: ${error.message ?? `HTTP ${res.status}`}${error.code ? ` (${error.code})` : ''}`);
  }
  return answer;
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new TokenError(413, 'request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new TokenError(400, 'the body is not JSON');
  }
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
