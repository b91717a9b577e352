// What the page shows: the rooms, a room's lines, who is here and who is typing. Text only ever goes in
// through textContent.

export const $ = (id) => document.getElementById(id);

/** Lines kept per room; older ones drop off the top. */
const MAX_LINES = 300;

/** A line of a room: from the server (live, replayed or history) or typed here and not yet acknowledged. */
class Line {
  constructor(key) {
    this.key = key;
    this.el = document.createElement('li');
    this.who = document.createElement('span');
    this.who.className = 'who';
    this.text = document.createElement('span');
    this.text.className = 'text';
    this.note = document.createElement('span');
    this.note.className = 'note';
    this.el.append(this.who, this.text, this.note);
    this.state = 'sent';
  }

  set({ name, text, mine, state, error }) {
    this.who.textContent = name;
    this.text.textContent = text;
    this.el.classList.toggle('mine', mine);
    this.state = state;
    this.el.classList.toggle('pending', state === 'pending');
    this.el.classList.toggle('failed', state === 'failed');
    this.note.textContent = state === 'failed' ? `not sent: ${error}` : '';
  }
}

/** A chat line's key: the id the page that typed it gave it, else the message id. */
function keyOf(message) {
  const local = message.data !== null && typeof message.data === 'object' ? message.data.local : undefined;
  return typeof local === 'string' ? local : message.id;
}

/**
 * One room's lines in order. A line is keyed by the id the page gave it (`data.local`) or the message
 * id, so our own echo, a replay after a reconnect and a history page all land on the same line.
 */
export class RoomLog {
  lines = new Map();
  /** Keys present when the last history load began. */
  beforeLoad = new Set();

  /** A message from the server; returns its line, or undefined when it is not a chat line. */
  take(message, myClientId) {
    if (message.name !== 'text') return undefined;
    const data = message.data !== null && typeof message.data === 'object' ? message.data : { text: String(message.data ?? '') };
    const line = this.lineFor(keyOf(message));
    line.set({
      name: typeof data.name === 'string' ? data.name : (message.clientId ?? 'someone'),
      text: String(data.text ?? ''),
      mine: message.clientId !== undefined && message.clientId === myClientId,
      state: 'sent',
    });
    return line;
  }

  /** A line typed here, shown at once and marked pending until the server acknowledges it. */
  pending(key, name, text) {
    const line = this.lineFor(key);
    line.set({ name, text, mine: true, state: 'pending' });
    return line;
  }

  acknowledged(key) {
    const line = this.lines.get(key);
    if (line?.state === 'pending') line.set({ name: line.who.textContent, text: line.text.textContent, mine: true, state: 'sent' });
  }

  refused(key, error) {
    const line = this.lines.get(key);
    line?.set({ name: line.who.textContent, text: line.text.textContent, mine: true, state: 'failed', error });
  }

  /** A line of its own kind: said by the page, not by anyone in the room. */
  notice(text) {
    const line = this.lineFor(`notice:${Date.now()}:${Math.random()}`);
    line.el.className = 'notice';
    line.el.replaceChildren(text);
    return line;
  }

  beginLoad() {
    this.beforeLoad = new Set(this.lines.keys());
  }

  /**
   * Merge a history page (any order): lines the server no longer has (older than the page, or from
   * before a restart) stay on top, then the history in serial order, then what arrived or was typed
   * since the load began.
   */
  merge(history, myClientId) {
    const past = history.filter((m) => m.name === 'text').sort((a, b) => (a.serial ?? 0) - (b.serial ?? 0));
    const inPast = new Set(past.map(keyOf));
    const previous = this.lines;
    const kept = [...previous.values()].filter((l) => !inPast.has(l.key));
    const older = kept.filter((l) => this.beforeLoad.has(l.key) && l.state === 'sent');
    const later = kept.filter((l) => !this.beforeLoad.has(l.key) || l.state !== 'sent');
    this.lines = new Map(older.map((l) => [l.key, l]));
    for (const message of past) {
      const known = previous.get(keyOf(message));
      if (known) this.lines.set(known.key, known);
      this.take(message, myClientId);
    }
    for (const line of later) this.lines.set(line.key, line);
    this.trim();
  }

  elements() {
    return [...this.lines.values()].map((l) => l.el);
  }

  lineFor(key) {
    let line = this.lines.get(key);
    if (!line) {
      line = new Line(key);
      this.lines.set(key, line);
      this.trim();
    }
    return line;
  }

  trim() {
    while (this.lines.size > MAX_LINES) this.lines.delete(this.lines.keys().next().value);
  }
}

/** Show `line` in the list if it is not there yet, keeping the view at the bottom when it was. */
export function showLine(line) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  if (line.el.parentNode !== list) list.append(line.el);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export function showLog(log) {
  const list = $('messages');
  list.replaceChildren(...log.elements());
  list.scrollTop = list.scrollHeight;
}

export function renderRooms(rooms, current, pick) {
  $('rooms').replaceChildren(
    ...rooms.map((name) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `# ${name}`;
      button.dataset.room = name;
      button.classList.toggle('active', name === current);
      if (name === current) button.setAttribute('aria-current', 'true');
      button.onclick = () => pick(name);
      const li = document.createElement('li');
      li.append(button);
      return li;
    }),
  );
}

/** `members`: clientId → { name }. */
export function renderMembers(members, myClientId) {
  const sorted = [...members].sort(([, a], [, b]) => a.name.localeCompare(b.name));
  $('members').replaceChildren(
    ...sorted.map(([clientId, { name }]) => {
      const li = document.createElement('li');
      li.textContent = name;
      li.title = clientId;
      if (clientId === myClientId) li.className = 'me';
      return li;
    }),
  );
}

export function renderTyping(names) {
  const text = names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : names.length < 4 ? `${names.join(', ')} are typing…` : 'several people are typing…';
  if ($('typing').textContent !== text) $('typing').textContent = text;
}

/** Errors are shown, never swallowed: the banner stays until dismissed or replaced. */
export function showError(message) {
  $('error-text').textContent = message;
  $('error').hidden = false;
}
$('error-close').onclick = () => {
  $('error').hidden = true;
};
