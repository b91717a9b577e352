// The Pusher Channels protocol 7 for the bench's raw-socket load client, and the HTTP API's request
// signing for a publisher that triggers through `POST /apps/{app}/events` as a Pusher backend does.
// Written from Pusher's protocol and HTTP API documentation.
import { createHash, createHmac } from 'node:crypto';

const json = JSON.stringify;
const SUBSCRIBED = '{"event":"pusher_internal:subscription_succeeded"';

export const pusher = {
  /** The key is the id of a Pusher key (`keys create --format pusher`), which a Pusher client takes as its app key. */
  path: (cfg) => `/app/${cfg.pusher.key}?protocol=7&client=hubbub-bench&version=1.0`,
  // The server speaks first (`pusher:connection_established`); the client sends nothing before it.
  open(c, ctx, done) {
    c.onText = (text) => {
      if (!text.startsWith('{"event":"pusher:connection_established"')) return;
      c.onText = undefined;
      done();
    };
  },
  subscribe: (c, channel) => c.send(json({ event: 'pusher:subscribe', data: { channel } })),
  // A subscription has no request id in Pusher's protocol: its confirmation stands for the id 1 the
  // subscriber processes wait for.
  ackOf: (text) => (text.startsWith(SUBSCRIBED) ? 1 : undefined),
  refused: (text) => /^\{"event":"pusher:(?:subscription_)?error"/.test(text),
  // The server pings a client that has sent nothing for `activity_timeout` and closes it a timeout
  // later; subscribers that only count frames never see the ping, so they send an unprompted pong
  // (which the server takes as activity and does not answer) well inside the timeout. pusher-js
  // answers the server's ping instead: one client frame per timeout either way.
  keepalive: '{"event":"pusher:pong","data":{}}',
};

/** `POST /apps/{app}/events` for `event`, signed with auth_version 1.0: [path with query, body]. */
export function signedTrigger({ appId, key, secret }, event) {
  const body = json(event);
  const path = `/apps/${appId}/events`;
  const params = {
    auth_key: key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(body).digest('hex'),
  };
  // Keys are lower-case already; sorted by key, values as they are (none needs escaping here).
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const signature = createHmac('sha256', secret).update(`POST\n${path}\n${query}`).digest('hex');
  return [`${path}?${query}&auth_signature=${signature}`, body];
}

/** The `PUSHER_APP_ID`, `PUSHER_APP_KEY`, `PUSHER_APP_SECRET` lines `hubbub keys create --format pusher` prints. */
export function pusherCredentials(output) {
  const env = {};
  for (const line of output.trim().split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  const { PUSHER_APP_ID: appId, PUSHER_APP_KEY: key, PUSHER_APP_SECRET: secret } = env;
  if (!appId || !key || !secret) throw new Error(`hubbub keys create --format pusher printed ${JSON.stringify(output)}, not the three PUSHER_APP_ lines`);
  return { appId, key, secret };
}
