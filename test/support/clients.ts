import WebSocket from 'ws';
import { Realtime, type RealtimeOptions } from '@hubbub/client';
import type { ServerFrame } from '@hubbub/protocol';

/** Every Realtime a test made, closed after it. */
const open = new Set<Realtime>();

export function client(url: string, options: RealtimeOptions): Realtime {
  const realtime = new Realtime({ endpoint: url, reconnectDelayMs: 200, ...options });
  open.add(realtime);
  return realtime;
}

export function closeClients(): void {
  for (const r of open) r.close();
  open.clear();
}

/** A bare socket speaking JSON frames, for what the SDK would never send. */
export class RawClient {
  readonly frames: ServerFrame[] = [];
  closed?: { code: number; reason: string };
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as ServerFrame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(url, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (from now on or already received) that matches. */
  async waitFor(match: (f: ServerFrame) => boolean, timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before a matching frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  reply(id: number): Promise<ServerFrame> {
    return this.waitFor((f) => 'id' in f && f.id === id);
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  async auth(token: string): Promise<ServerFrame> {
    this.send({ t: 'auth', token });
    return this.waitFor((f) => f.t === 'connected' || f.t === 'err');
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
