// The SDK's connection state, as the page shows it: connecting, connected, reconnecting (a countdown
// from the SDK's `retryIn`), failed with the reason. `data-state` on #status is what CSS and tests read.
import { $ } from './chat-view.js';

const TICK_MS = 250;

/**
 * Follow `connection` (a Realtime's `connection`) on #status. `onChange(state)` hears the page's
 * state each time it changes; `retry()` is what the "Retry now" button does.
 */
export function showConnection(connection, { retry, onChange }) {
  let everConnected = false;
  let shown;
  let countdown;

  const show = (state, text, reason) => {
    $('status').dataset.state = state;
    document.body.dataset.connection = state;
    $('status-text').textContent = text;
    $('status-reason').textContent = reason && state !== 'connected' ? reason.message : '';
    $('status-reason').title = reason ? `${reason.message} (code ${reason.code})` : '';
    $('retry').hidden = state !== 'reconnecting' && state !== 'failed';
    if (state !== shown) onChange?.((shown = state));
  };

  const render = ({ current, reason, retryIn }) => {
    clearInterval(countdown);
    switch (current) {
      case 'connected':
        everConnected = true;
        return show('connected', 'Connected');
      case 'disconnected': {
        if (retryIn === undefined) return show('reconnecting', 'Disconnected', reason);
        const at = Date.now() + retryIn;
        const tick = () => show('reconnecting', `Reconnecting in ${Math.max(0, Math.ceil((at - Date.now()) / 1000))} s…`, reason);
        tick();
        countdown = setInterval(tick, TICK_MS);
        return;
      }
      case 'failed':
        return show('failed', 'Connection failed:', reason ?? { message: 'gave up', code: 0 });
      case 'closed':
        return show('closed', 'Closed');
      default:
        // initialized / connecting: the first time is "connecting", any later one a reconnect.
        return everConnected ? show('reconnecting', 'Reconnecting…', connection.errorReason) : show('connecting', 'Connecting…');
    }
  };

  $('retry').onclick = retry;
  connection.on(render);
  render({ current: connection.state, reason: connection.errorReason });
}
