// A terminal chat client for the five-minute tour:
//   node examples/tour/chat.mjs "$(npx --no-install hubbub devtoken --app demo --client alice)" [channel]
// Type a line and press Enter to publish it; Ctrl-D leaves. Presence and messages are printed
// (this client's own messages too). HUBBUB_URL overrides the server (default ws://localhost:3000).
import { createInterface } from 'node:readline';
import { Realtime } from '@hubbub/client';

const [token, channelName = 'chat:lobby'] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/tour/chat.mjs TOKEN [CHANNEL]');
  process.exit(2);
}

// autoReenterPresence: after a reconnect (say the server restarted) this client enters presence
// again by itself; without it, the SDK reconnects and resubscribes but leaves presence to the app.
const realtime = new Realtime({ token, endpoint: process.env.HUBBUB_URL ?? 'ws://localhost:3000', autoReenterPresence: true });
const channel = realtime.channels.get(channelName);

realtime.connection.on((change) => {
  const why = change.reason ? ` (${change.reason.message})` : '';
  const retry = change.retryIn === undefined ? '' : `, retrying in ${(change.retryIn / 1000).toFixed(1)} s`;
  console.log(`[connection] ${change.current}${why}${retry}`);
  if (change.current === 'failed') process.exit(1);
});
channel.on((message) => console.log(`<${message.clientId}> ${message.data}`));
channel.presence.on((member) => console.log(`[presence] ${member.clientId} ${member.action}`));

await realtime.connection.once('connected');
await channel.presence.enter({ since: new Date().toISOString() });
console.log(`[joined] ${channelName} as ${realtime.connection.clientId}: type a message and press Enter`);

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim()) channel.publish('text', line).catch((err) => console.error(`[error ${err.code}] ${err.message}`));
});
input.on('close', () => realtime.close());
