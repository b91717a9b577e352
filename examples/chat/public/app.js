// The chat on `@hubbub/client`: rooms are channels `chat:<room>`, "here now" is presence (the display
// name in its data), "is typing" is a presence update the other pages let lapse, and a room's past
// comes from `channel.history()` when you enter it.
import { $, RoomLog, renderMembers, renderRooms, renderTyping, showError, showLine, showLog } from './chat-view.js';
import { showConnection } from './connection-status.js';

/** How many past lines a room shows when you enter it. */
const HISTORY_LIMIT = 50;
/** Stop saying "typing" after this long without a key press. */
const TYPING_IDLE_MS = 3000;
/** Say it again this often while typing goes on: other pages drop a flag that is not repeated… */
const TYPING_REFRESH_MS = 2000;
/** …within this long, in case its page went away without clearing it. */
const TYPING_TTL_MS = 5000;
/** A chat reconnects sooner than the SDK's default 30 s cap. */
const RECONNECT_MAX_DELAY_MS = 10_000;

const config = await fetch('/config')
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
  .catch((err) => {
    $('login-error').textContent = `Cannot load the chat's settings from this server: ${err.message}. Is the example still running?`;
    $('login-error').hidden = false;
    throw err;
  });
/** hubbub serve, as this browser reaches it: the page's host on hubbub's port unless told otherwise. */
const hubbubHttp = (config.hubbubUrl ?? `${location.protocol}//${location.hostname}:${config.hubbubPort}`).replace(/\/+$/, '');

let realtime;
let me;
/** The room on screen, and every room visited: { name, channel, log, members, loading }. */
let current;
const rooms = new Map();
/** Counts room switches: a slow answer for a room already left is dropped. */
let visits = 0;
/** What we last told the current room about our typing: { room, sentAt, idle }. */
let typing;
let sdkAttempts = 0;

$('who').onsubmit = (event) => {
  event.preventDefault();
  void join($('name').value);
};
const asked = new URLSearchParams(location.search).get('name');
if (asked) {
  $('name').value = asked;
  void join(asked);
}

async function join(typed) {
  $('join').disabled = true;
  $('login-error').hidden = true;
  try {
    const [sdk, first] = await Promise.all([loadSdk(), requestToken(typed)]);
    start(sdk, first);
    $('login').hidden = true;
    history.replaceState(null, '', `?name=${encodeURIComponent(first.name)}`);
  } catch (err) {
    $('login-error').textContent = err.message;
    $('login-error').hidden = false;
  } finally {
    $('join').disabled = false;
  }
}

/** The SDK bundle that hubbub serve itself serves. */
async function loadSdk() {
  const url = `${hubbubHttp}/sdk/hubbub.js`;
  try {
    // A failed module fetch may be remembered by the browser: ask a fresh URL after a failure.
    return await import(sdkAttempts++ === 0 ? url : `${url}?attempt=${sdkAttempts}`);
  } catch (err) {
    throw new Error(`cannot load the SDK from hubbub serve at ${url}: is it running? (${err.message})`);
  }
}

/** A token from this example's backend, which asks hubbub serve with its API key. */
async function requestToken(name) {
  let res;
  try {
    res = await fetch('/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  } catch (err) {
    throw new Error(`cannot reach the chat's token endpoint (${err.message})`);
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error?.message ?? `token request failed (HTTP ${res.status})`);
  return body;
}

function start({ Realtime }, first) {
  me = { name: first.name, clientId: first.clientId };
  realtime = new Realtime({
    endpoint: hubbubHttp.replace(/^http/, 'ws'),
    token: first.token,
    // Renewals: the SDK asks shortly before the token expires, or when the server refuses it.
    authCallback: async () => (await requestToken(me.name)).token,
    autoReenterPresence: true,
    reconnectMaxDelayMs: RECONNECT_MAX_DELAY_MS,
  });
  showConnection(realtime.connection, {
    retry: () => realtime.connect(),
    onChange: (state) => {
      // Gone: say we stopped typing now, so presence re-entered on reconnect does not say we type.
      if (state === 'reconnecting') stopTyping();
      if (state === 'failed') showError(`The connection failed: ${realtime.connection.errorReason?.message ?? 'gave up'}. Retry, or reload the page.`);
    },
  });
  setInterval(renderCurrentTyping, 1000); // lets stale typing flags lapse
  enterRoom(new URLSearchParams(location.search).get('room') ?? config.rooms[0]);
}

function room(name) {
  let r = rooms.get(name);
  if (r) return r;
  const channel = realtime.channels.get(`chat:${name}`);
  r = { name, channel, log: new RoomLog(), members: new Map(), loading: false };
  channel.on((message) => received(r, message));
  channel.onAttached(({ discontinuity }) => {
    if (discontinuity && r === current && !r.loading) showLine(r.log.notice('Reconnected, but the server could not replay everything: lines sent while you were away may be missing.'));
  });
  channel.presence.on((p) => presenceChanged(r, p));
  rooms.set(name, r);
  return r;
}

async function enterRoom(name) {
  if (!config.rooms.includes(name)) name = config.rooms[0];
  if (current?.name === name) return;
  stopTyping();
  const previous = current;
  const r = (current = room(name));
  const visit = ++visits;
  renderRooms(config.rooms, name, enterRoom);
  $('title').textContent = `# ${name}`;
  showLog(r.log);
  renderRoomPresence();
  if (previous) {
    // Leave its presence (so autoReenterPresence will not re-enter it) and stop its messages.
    previous.channel.presence.leave().catch(failed(`Could not leave #${previous.name}`));
    previous.channel.detach().catch(() => {}); // when offline the detach is only local: nothing to report
  }
  r.channel.presence.enter({ name: me.name }).catch(failed(`Could not join #${name}'s presence`));
  r.loading = true;
  r.log.beginLoad();
  try {
    await r.channel.attach();
    const past = await r.channel.history({ limit: HISTORY_LIMIT });
    r.log.merge(past, me.clientId);
  } catch (err) {
    if (visit === visits) showError(`Could not load #${name}: ${err.message}${err.code ? ` (${err.code})` : ''}`);
  } finally {
    r.loading = false;
    if (visit === visits) showLog(r.log);
  }
}

function received(r, message) {
  const line = r.log.take(message, me.clientId);
  if (!line) return;
  // A line from someone ends their typing at once, ahead of their presence update.
  const member = r.members.get(message.clientId);
  if (member) member.typingSeenAt = 0;
  if (r === current && !r.loading) {
    showLine(line);
    renderCurrentTyping();
  }
}

function presenceChanged(r, p) {
  if (p.action === 'leave') r.members.delete(p.clientId);
  else {
    const data = p.data !== null && typeof p.data === 'object' ? p.data : {};
    r.members.set(p.clientId, {
      name: typeof data.name === 'string' ? data.name : p.clientId,
      // When we heard it, not the typist's clock: the two clocks may differ.
      typingSeenAt: data.typingAt ? Date.now() : 0,
    });
  }
  if (r === current) renderRoomPresence();
}

function renderRoomPresence() {
  renderMembers(current.members, me.clientId);
  renderCurrentTyping();
}

function renderCurrentTyping() {
  if (!current) return;
  const now = Date.now();
  const names = [...current.members]
    .filter(([clientId, m]) => clientId !== me.clientId && m.typingSeenAt && now - m.typingSeenAt < TYPING_TTL_MS)
    .map(([, m]) => m.name)
    .sort();
  renderTyping(names);
}

$('send').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !current) return;
  $('text').value = '';
  stopTyping();
  const r = current;
  const local = localId();
  showLine(r.log.pending(local, me.name, text));
  // Queued by the SDK while the connection is down, sent once when it is back (the message id is kept
  // across resends, so a resend is delivered once); resolves on the server's ack.
  r.channel.publish('text', { name: me.name, text, local }).then(
    () => r.log.acknowledged(local),
    (err) => {
      r.log.refused(local, `${err.message}${err.code ? ` (${err.code})` : ''}`);
      showError(`Your line was not sent: ${err.message}${err.code ? ` (code ${err.code})` : ''}`);
    },
  );
};

$('text').oninput = () => {
  if (!current || !realtime) return;
  if (!$('text').value.trim()) return stopTyping();
  const now = Date.now();
  if (typing?.room !== current || now - typing.sentAt >= TYPING_REFRESH_MS) {
    clearTimeout(typing?.idle);
    typing = { room: current, sentAt: now };
    current.channel.presence.update({ name: me.name, typingAt: now }).catch(failed('Could not say you are typing'));
  }
  clearTimeout(typing.idle);
  typing.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
};

function stopTyping() {
  if (!typing) return;
  clearTimeout(typing.idle);
  const { room: r } = typing;
  typing = undefined;
  if (r === current) r.channel.presence.update({ name: me.name }).catch(failed('Could not say you stopped typing'));
}

/** Report a failed SDK call on the page. */
function failed(what) {
  return (err) => showError(`${what}: ${err.message}${err.code ? ` (code ${err.code})` : ''}`);
}

/** An id for a line typed here, so its echo, a replay and history land on the same line (works outside secure contexts too). */
function localId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `l-${me.clientId}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
