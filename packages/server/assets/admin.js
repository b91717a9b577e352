// The admin page's script. The admin key is posted once to /admin/login, which answers with an
// HttpOnly session cookie; the stream and the JSON calls ride on that cookie, so the key is never
// kept by the page nor put in a URL.
const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat();
const WINDOW_MS = 5 * 60_000;
let series = [];
let source;
let presenceTimer;

if (new URLSearchParams(location.search).get('login') === 'failed') {
  history.replaceState(null, '', '/admin');
  showLogin('Wrong admin key: give the key the server was started with (--admin-key or HUBBUB_ADMIN_KEY).');
} else {
  checkSession();
}

async function checkSession() {
  const res = await fetch('/admin/session', { cache: 'no-store' }).catch(() => undefined);
  if (res?.ok) return open();
  showLogin(res && res.status !== 401 ? await messageOf(res) : '');
}

$('login-form').onsubmit = async (e) => {
  e.preventDefault();
  const key = $('admin-key').value;
  $('login-error').textContent = '';
  let res;
  try {
    res = await fetch('/admin/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
  } catch {
    return showLogin('Could not reach the server.');
  }
  if (!res.ok) return showLogin(await messageOf(res));
  $('admin-key').value = '';
  $('login').hidden = true;
  open();
};

$('logout-form').onsubmit = async (e) => {
  e.preventDefault();
  await fetch('/admin/logout', { method: 'POST' }).catch(() => {});
  close();
  showLogin('Logged out.');
};

function showLogin(message) {
  close();
  $('login-error').textContent = message;
  $('login').hidden = false;
  $('admin-key').focus();
}

async function messageOf(res) {
  const body = await res.json().catch(() => undefined);
  const message = body?.error?.message ?? `HTTP ${res.status}`;
  return message.charAt(0).toUpperCase() + message.slice(1) + (message.endsWith('.') ? '' : '.');
}

function open() {
  close();
  $('logout-form').hidden = false;
  source = new EventSource('/admin/stream');
  source.addEventListener('series', (e) => { series = JSON.parse(e.data); });
  source.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
  source.onopen = () => { $('status').textContent = 'live'; $('status').className = 'live'; };
  source.onerror = () => {
    $('status').textContent = 'offline'; $('status').className = '';
    // CLOSED: the server refused the stream (the session ended or the server restarted). Otherwise
    // the browser reconnects by itself.
    if (source.readyState === EventSource.CLOSED) checkSession();
  };
}

function close() {
  source?.close();
  source = undefined;
  clearInterval(presenceTimer);
  $('status').textContent = 'offline'; $('status').className = '';
  $('logout-form').hidden = true;
}

function render(s) {
  const last = series.at(-1);
  if (!last || last.at !== s.at) {
    series.push({ at: s.at, connections: s.connections, channels: s.channels, messagesInPerSecond: s.messagesInPerSecond, deliveriesPerSecond: s.deliveriesPerSecond });
    if (series.length > 300) series.shift();
  }
  $('meta').textContent = `node ${s.node} · ${s.engine} engine · ${s.store} store · up ${s.uptimeSeconds}s`;
  $('connections').textContent = fmt.format(s.connections);
  $('channels').textContent = fmt.format(s.channels);
  $('msgs-in').textContent = fmt.format(s.messagesInPerSecond);
  $('deliveries').textContent = fmt.format(s.deliveriesPerSecond);
  chart($('chart-traffic'), s.at, [series.map((p) => [p.at, p.messagesInPerSecond]), series.map((p) => [p.at, p.deliveriesPerSecond])]);
  chart($('chart-connections'), s.at, [series.map((p) => [p.at, p.connections]), series.map((p) => [p.at, p.channels])]);
  rows($('top-channels'), s.topChannels.map((c) => [c.app, c.channel, fmt.format(c.messages)]), 'No traffic yet');
  rows($('apps'), s.apps.map((a) => [a.app, fmt.format(a.connections), fmt.format(a.messages)]), 'No apps yet');
  rows($('errors'), s.errors.map((e) => [codeCell(e), cell(e.description, 'desc'), fmt.format(e.count)]), 'No errors');
  $('recent-errors').replaceChildren(...s.recentErrors.slice().reverse().map((e) => {
    const li = document.createElement('li');
    li.append(`${new Date(e.at).toLocaleTimeString()} `, codeCell(e, 'span'), `: ${e.message}`);
    return li;
  }));
  $('nodes').replaceChildren(...s.nodes.map((n) => Object.assign(document.createElement('li'), { textContent: n === s.node ? `${n} (this node)` : n })));
  $('webhooks').textContent = `webhook queue: ${s.webhookQueueDepth}`;
}

/** `40301 Capability`: the number, then the name from the protocol's ErrorCode table. */
function codeCell(e, tag = 'td') {
  const node = document.createElement(tag);
  node.className = 'code';
  node.append(Object.assign(document.createElement('code'), { textContent: String(e.code) }), ` ${e.name}`);
  return node;
}

function cell(text, className = '') {
  return Object.assign(document.createElement('td'), { textContent: text, className });
}

function rows(tbody, data, empty) {
  if (data.length === 0) { tbody.replaceChildren(Object.assign(document.createElement('tr'), { innerHTML: `<td class="empty" colspan="3">${empty}</td>` })); return; }
  tbody.replaceChildren(...data.map((cells) => {
    const tr = document.createElement('tr');
    cells.forEach((c, i) => tr.append(c instanceof Node ? c : cell(c, i > 0 && /^[\d,.-]+$/.test(c) ? 'num' : '')));
    return tr;
  }));
}

// Chart geometry, in viewBox units: the plot sits inside margins that hold the axes' labels.
const W = 600, H = 190, LEFT = 58, RIGHT = 12, TOP = 10, BOTTOM = 40;
const PLOT_W = W - LEFT - RIGHT, PLOT_H = H - TOP - BOTTOM;

/** Lines of [time, value] over the last five minutes: time on x (ticks each minute), the quantity on y. */
function chart(svg, now, lines) {
  const colors = ['var(--accent)', 'var(--accent2)'];
  const max = niceCeiling(Math.max(1, ...lines.flat().map(([, v]) => v)));
  const start = now - WINDOW_MS;
  const x = (at) => LEFT + ((at - start) / WINDOW_MS) * PLOT_W;
  const y = (v) => TOP + PLOT_H - (v / max) * PLOT_H;
  const yTicks = [0, max / 2, max].map((v) =>
    `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="${v ? '#eef0f5' : '#c9cdd8'}" />` +
    `<text class="tick y" x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${fmt.format(v)}</text>`).join('');
  const xTicks = [5, 4, 3, 2, 1, 0].map((m) => {
    const at = now - m * 60_000;
    return `<line x1="${x(at)}" x2="${x(at)}" y1="${TOP + PLOT_H}" y2="${TOP + PLOT_H + 4}" stroke="#c9cdd8" />` +
      `<text class="tick x" x="${x(at)}" y="${TOP + PLOT_H + 16}" text-anchor="${m === 0 ? 'end' : m === 5 ? 'start' : 'middle'}">${m === 0 ? 'now' : `−${m} min`}</text>`;
  }).join('');
  const titles =
    `<text class="axis-title x" x="${LEFT + PLOT_W / 2}" y="${H - 4}" text-anchor="middle">time (last 5 minutes)</text>` +
    `<text class="axis-title y" transform="translate(12 ${TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${svg.dataset.yTitle}</text>`;
  const paths = lines.map((points, i) => {
    const shown = points.filter(([at]) => at >= start).map(([at, v]) => `${x(at).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polyline data-series="${i}" fill="none" stroke="${colors[i]}" stroke-width="2" points="${shown}" />`;
  }).join('');
  svg.innerHTML = `${yTicks}${xTicks}${titles}${paths}`;
}

/** The next 1, 2 or 5 × 10ⁿ at or above `v`, so the top of the y axis is a round number. */
function niceCeiling(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * step).find((c) => c >= v);
}

$('presence-form').onsubmit = (e) => { e.preventDefault(); clearInterval(presenceTimer); showPresence(); presenceTimer = setInterval(showPresence, 2000); };
async function showPresence() {
  const app = $('presence-app').value.trim(), channel = $('presence-channel').value.trim();
  const res = await fetch(`/admin/presence?app=${encodeURIComponent(app)}&channel=${encodeURIComponent(channel)}`, { cache: 'no-store' });
  if (res.status === 401) return showLogin(await messageOf(res));
  const body = await res.json();
  const list = $('presence-list');
  if (!res.ok) { list.className = 'empty'; list.replaceChildren(Object.assign(document.createElement('li'), { textContent: body.error.message })); return; }
  list.className = body.members.length ? '' : 'empty';
  list.replaceChildren(...(body.members.length ? body.members.map((m) => Object.assign(document.createElement('li'), { textContent: m.clientId })) : [Object.assign(document.createElement('li'), { textContent: 'Nobody here' })]));
}
