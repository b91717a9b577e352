// Reconnect storm, the clients: real @hubbub/client `Realtime` instances (its own backoff, jitter,
// resubscription with the last serial), each attached to one channel, noting every serial it gets.
// IPC: ready (all attached) → mark (remember each client's last serial: the node is about to go) →
// status (how many have got a message at or past the serial each channel had when the node came back)
// → report (catch-up times, and serials missing between the mark and the last one published).
import { Realtime } from '@hubbub/client';
import { now } from '../lib/rawws.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));

const clients = [];
let target;

function open(i) {
  const channel = cfg.channels[i % cfg.channels.length];
  const rt = new Realtime({ endpoint: `ws://127.0.0.1:${cfg.port}`, token: cfg.token, echoMessages: false });
  const me = { rt, channel, last: undefined, mark: undefined, missing: 0, caughtUpAt: undefined, reattachedAt: undefined, discontinuities: 0 };
  const ch = rt.channels.get(channel);
  ch.on((m) => {
    if (m.serial === undefined) return;
    // The SDK drops repeats; a jump is a message it never delivered.
    if (me.mark !== undefined && me.last !== undefined && m.serial > me.last + 1) me.missing += m.serial - me.last - 1;
    me.last = m.serial;
    if (me.caughtUpAt === undefined && target && m.serial >= (target[channel] ?? Infinity)) me.caughtUpAt = now();
  });
  ch.onAttached((e) => {
    if (me.mark === undefined) return;
    me.reattachedAt ??= now();
    if (e.discontinuity) me.discontinuities++;
  });
  clients.push(me);
  return ch.attach();
}

async function openAll() {
  // A few hundred handshakes at a time at setup: the storm is the restart, not the first connect.
  let i = 0;
  const lane = async () => {
    while (i < cfg.count) await open(cfg.first + i++);
  };
  await Promise.all(Array.from({ length: 100 }, lane));
}

process.on('message', (m) => {
  if (m.type === 'mark') {
    for (const c of clients) {
      c.mark = c.last ?? 0;
      c.last ??= 0;
    }
    process.send({ type: 'marked' });
  } else if (m.type === 'target') {
    target = m.serials;
    // A client may already be past it (the serial arrived before this message).
    for (const c of clients) if (c.caughtUpAt === undefined && c.last >= (target[c.channel] ?? Infinity)) c.caughtUpAt = now();
    process.send({ type: 'targeted' });
  } else if (m.type === 'status') {
    process.send({ type: 'status', caughtUp: clients.filter((c) => c.caughtUpAt !== undefined).length, connected: clients.filter((c) => c.rt.connection.state === 'connected').length });
  } else if (m.type === 'report') {
    const final = m.serials;
    let lost = 0;
    let notCaughtUp = 0;
    const times = [];
    const reattach = [];
    let discontinuities = 0;
    for (const c of clients) {
      // What never came: the jumps seen, and what is missing after the last serial received.
      lost += c.missing + Math.max(0, (final[c.channel] ?? 0) - c.last);
      if (c.caughtUpAt === undefined) notCaughtUp++;
      else times.push(c.caughtUpAt - m.killedAt);
      if (c.reattachedAt !== undefined) reattach.push(c.reattachedAt - m.killedAt);
      discontinuities += c.discontinuities;
    }
    process.send({ type: 'report', lost, notCaughtUp, times, reattach, discontinuities });
  } else if (m.type === 'exit') {
    for (const c of clients) c.rt.close();
    process.exit(0);
  }
});

openAll().then(
  () => process.send({ type: 'ready' }),
  (err) => {
    process.send({ type: 'error', message: err.message });
    process.exit(1);
  },
);
