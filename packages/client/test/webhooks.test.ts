import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  WebhookReceiver,
  WebhookVerificationError,
  verifyWebhook,
  type WebhookVerificationErrorCode,
} from '../src/webhooks.js';
import { generateWebhookSecret, signWebhook, webhookHeaders } from '../../server/src/service/webhooks/signature.js';

const secret = generateWebhookSecret();
const body = JSON.stringify({ type: 'channel.message', data: { channel: 'chat', text: 'héllo ✓' } });
const NOW = 1_750_000_000_000; // Unix ms
const clock = { now: () => NOW };

function headersAt(nowMs: number, id = 'msg_1', payload = body, key: string | string[] = secret): Record<string, string> {
  return webhookHeaders(key, id, payload, nowMs);
}

function codeOf(fn: () => unknown): WebhookVerificationErrorCode {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    expect((err as Error).name).toBe('WebhookVerificationError');
    expect((err as Error).message.length).toBeGreaterThan(10);
    return (err as WebhookVerificationError).code;
  }
  throw new Error('expected a WebhookVerificationError, nothing was thrown');
}

describe('server signing', () => {
  it('makes whsec_ secrets of 24 random bytes', () => {
    const s = generateWebhookSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(s.slice('whsec_'.length), 'base64')).toHaveLength(24);
    expect(generateWebhookSecret()).not.toBe(s);
  });

  it('webhookHeaders has the three webhook headers and the content type', () => {
    const h = headersAt(NOW + 999);
    expect(Object.keys(h).sort()).toEqual(['content-type', 'webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(h['content-type']).toBe('application/json');
    expect(h['webhook-id']).toBe('msg_1');
    expect(h['webhook-timestamp']).toBe(String(Math.floor(NOW / 1000)));
    expect(h['webhook-signature']).toBe(signWebhook(secret, 'msg_1', Math.floor(NOW / 1000), body));
    expect(h['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('refuses ids that would make the signed text ambiguous, and bad timestamps or secrets', () => {
    expect(() => signWebhook(secret, 'a.b', 1, body)).toThrow(TypeError);
    expect(() => signWebhook(secret, '', 1, body)).toThrow(TypeError);
    expect(() => signWebhook(secret, 'msg_1', 1.5, body)).toThrow(TypeError);
    expect(() => signWebhook(secret, 'msg_1', -1, body)).toThrow(TypeError);
    expect(() => signWebhook('whsec_', 'msg_1', 1, body)).toThrow(TypeError);
    expect(() => signWebhook('whsec_not base64!', 'msg_1', 1, body)).toThrow(TypeError);
    expect(() => signWebhook([], 'msg_1', 1, body)).toThrow(TypeError);
  });
});

describe('known answer', () => {
  it('matches an HMAC computed independently with node:crypto', () => {
    const fixedSecret = 'whsec_' + Buffer.from('0123456789abcdefghijklmn').toString('base64');
    const id = 'msg_known';
    const timestamp = 1_700_000_000;
    const payload = '{"type":"test","n":1}';
    const expected =
      'v1,' +
      createHmac('sha256', Buffer.from('0123456789abcdefghijklmn'))
        .update(`${id}.${timestamp}.${payload}`)
        .digest('base64');
    expect(signWebhook(fixedSecret, id, timestamp, payload)).toBe(expected);

    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': expected };
    const result = verifyWebhook(fixedSecret, payload, headers, { now: () => timestamp * 1000 });
    expect(result).toEqual({ event: { type: 'test', n: 1 }, id, timestamp });
  });

  it('matches the test vector published with the Standard Webhooks reference libraries', () => {
    const vectorSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const timestamp = 1614265330;
    const payload = '{"test": 2432232314}';
    const signature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    expect(signWebhook(vectorSecret, id, timestamp, payload)).toBe(signature);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect(verifyWebhook(vectorSecret, payload, headers, { now: () => timestamp * 1000 }).event).toEqual({ test: 2432232314 });
  });
});

describe('verifyWebhook', () => {
  it('accepts a body signed by signWebhook, as string, Buffer, Uint8Array or ArrayBuffer', () => {
    const h = headersAt(NOW);
    const bytes = Buffer.from(body);
    for (const raw of [body, bytes, new Uint8Array(bytes), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)]) {
      const { event, id, timestamp } = verifyWebhook(secret, raw, h, clock);
      expect(event).toEqual(JSON.parse(body));
      expect(id).toBe('msg_1');
      expect(timestamp).toBe(Math.floor(NOW / 1000));
    }
  });

  it('accepts with the real clock and default options', () => {
    expect(verifyWebhook(secret, body, webhookHeaders(secret, 'msg_now', body)).event).toEqual(JSON.parse(body));
  });

  it('refuses a tampered body', () => {
    const h = headersAt(NOW);
    expect(codeOf(() => verifyWebhook(secret, body.replace('héllo', 'hello'), h, clock))).toBe('bad_signature');
    expect(codeOf(() => verifyWebhook(secret, body + ' ', h, clock))).toBe('bad_signature');
  });

  it('refuses a changed id or timestamp', () => {
    const h = headersAt(NOW);
    expect(codeOf(() => verifyWebhook(secret, body, { ...h, 'webhook-id': 'msg_2' }, clock))).toBe('bad_signature');
    const later = String(Number(h['webhook-timestamp']) + 1);
    expect(codeOf(() => verifyWebhook(secret, body, { ...h, 'webhook-timestamp': later }, clock))).toBe('bad_signature');
  });

  it('refuses the wrong secret', () => {
    const h = headersAt(NOW);
    expect(codeOf(() => verifyWebhook(generateWebhookSecret(), body, h, clock))).toBe('bad_signature');
  });

  it('refuses malformed secrets', () => {
    const h = headersAt(NOW);
    for (const bad of ['', 'whsec_', 'whsec_***', 'whsec_has spaces']) {
      expect(codeOf(() => verifyWebhook(bad, body, h, clock))).toBe('bad_secret');
    }
    expect(codeOf(() => new WebhookReceiver('whsec_'))).toBe('bad_secret');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('refuses a request without %s', (name) => {
    const h: Record<string, string> = headersAt(NOW);
    delete h[name];
    let error: unknown;
    try {
      verifyWebhook(secret, body, h, clock);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect((error as WebhookVerificationError).code).toBe('missing_headers');
    expect((error as Error).message).toContain(name);
    expect(codeOf(() => verifyWebhook(secret, body, { ...headersAt(NOW), [name]: '' }, clock))).toBe('missing_headers');
  });

  it('refuses a request with no headers at all', () => {
    expect(codeOf(() => verifyWebhook(secret, body, {}, clock))).toBe('missing_headers');
    expect(codeOf(() => verifyWebhook(secret, body, new Headers(), clock))).toBe('missing_headers');
  });

  it('refuses a timestamp that is not whole seconds', () => {
    for (const ts of ['1750000000.5', 'abc', '-1', '1e9', `${NOW}000000`]) {
      expect(codeOf(() => verifyWebhook(secret, body, { ...headersAt(NOW), 'webhook-timestamp': ts }, clock))).toBe('bad_headers');
    }
  });

  it('refuses an old timestamp, with or without a valid signature', () => {
    const old = headersAt(NOW - 301_000);
    expect(codeOf(() => verifyWebhook(secret, body, old, clock))).toBe('timestamp_out_of_tolerance');
    expect(verifyWebhook(secret, body, headersAt(NOW - 299_000), clock).event).toBeTruthy();
  });

  it('refuses a future timestamp', () => {
    const future = headersAt(NOW + 302_000);
    expect(codeOf(() => verifyWebhook(secret, body, future, clock))).toBe('timestamp_out_of_tolerance');
    expect(verifyWebhook(secret, body, headersAt(NOW + 299_000), clock).event).toBeTruthy();
  });

  it('honours toleranceSeconds and rejects a bad one', () => {
    const h = headersAt(NOW - 20_000);
    expect(codeOf(() => verifyWebhook(secret, body, h, { ...clock, toleranceSeconds: 10 }))).toBe('timestamp_out_of_tolerance');
    expect(verifyWebhook(secret, body, h, { ...clock, toleranceSeconds: 30 }).id).toBe('msg_1');
    expect(() => verifyWebhook(secret, body, h, { toleranceSeconds: -1 })).toThrow(TypeError);
    expect(() => new WebhookReceiver(secret, { toleranceSeconds: Number.NaN })).toThrow(TypeError);
  });

  it('accepts several signatures when one is valid (key rotation)', () => {
    const h = headersAt(NOW);
    const valid = h['webhook-signature'];
    const otherSecret = generateWebhookSecret();
    const ts = Number(h['webhook-timestamp']);
    const invalid = signWebhook(otherSecret, 'msg_1', ts, body);
    for (const sigs of [`${invalid} ${valid}`, `${valid} ${invalid}`, `v1a,AAAA ${invalid}  ${valid}`]) {
      expect(verifyWebhook(secret, body, { ...h, 'webhook-signature': sigs }, clock).id).toBe('msg_1');
    }
    expect(codeOf(() => verifyWebhook(secret, body, { ...h, 'webhook-signature': `${invalid} v1,AAAA` }, clock))).toBe('bad_signature');
  });

  it('verifies what a sender signed with two secrets, with either one', () => {
    const otherSecret = generateWebhookSecret();
    const h = headersAt(NOW, 'msg_1', body, [otherSecret, secret]);
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWebhook(secret, body, h, clock).id).toBe('msg_1');
    expect(verifyWebhook(otherSecret, body, h, clock).id).toBe('msg_1');
  });

  it('ignores versions other than v1, so a v2-only signature is refused', () => {
    const h = headersAt(NOW);
    const v2 = h['webhook-signature'].replace(/^v1,/, 'v2,');
    let message = '';
    try {
      verifyWebhook(secret, body, { ...h, 'webhook-signature': v2 }, clock);
    } catch (err) {
      expect((err as WebhookVerificationError).code).toBe('bad_signature');
      message = (err as Error).message;
    }
    expect(message).toContain('no v1 signature');
    expect(codeOf(() => verifyWebhook(secret, body, { ...h, 'webhook-signature': 'garbage' }, clock))).toBe('bad_signature');
  });

  it('refuses an authentic body that is not JSON, or not UTF-8', () => {
    const text = 'not json {';
    expect(codeOf(() => verifyWebhook(secret, text, headersAt(NOW, 'msg_1', text), clock))).toBe('bad_body');

    const bytes = Buffer.from([0x7b, 0xff, 0x7d]); // "{", invalid byte, "}"
    const ts = Math.floor(NOW / 1000);
    const sig = 'v1,' + createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`msg_1.${ts}.`).update(bytes).digest('base64');
    const h = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': sig };
    expect(codeOf(() => verifyWebhook(secret, bytes, h, clock))).toBe('bad_body');
  });

  it('refuses a body that was already parsed', () => {
    const parsed = JSON.parse(body) as unknown;
    expect(codeOf(() => verifyWebhook(secret, parsed as string, headersAt(NOW), clock))).toBe('bad_body');
  });
});

describe('headers', () => {
  it('reads header names in any case', () => {
    const h = headersAt(NOW);
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    const mixed = {
      'Webhook-Id': h['webhook-id'],
      'WEBHOOK-timestamp': h['webhook-timestamp'],
      'Webhook-Signature': h['webhook-signature'],
    };
    expect(verifyWebhook(secret, body, upper, clock).id).toBe('msg_1');
    expect(verifyWebhook(secret, body, mixed, clock).id).toBe('msg_1');
  });

  it('reads array values, as in Node request headers', () => {
    const h = headersAt(NOW);
    const other = signWebhook(generateWebhookSecret(), 'msg_1', Number(h['webhook-timestamp']), body);
    const arrays = {
      'webhook-id': [h['webhook-id']],
      'webhook-timestamp': [h['webhook-timestamp']],
      'webhook-signature': [other, h['webhook-signature']],
      'x-unrelated': undefined,
    };
    expect(verifyWebhook(secret, body, arrays, clock).id).toBe('msg_1');
    expect(codeOf(() => verifyWebhook(secret, body, { ...arrays, 'webhook-id': ['msg_1', 'msg_2'] }, clock))).toBe('bad_headers');
    expect(codeOf(() => verifyWebhook(secret, body, { ...arrays, 'webhook-id': [] }, clock))).toBe('missing_headers');
  });

  it('reads a Headers instance', () => {
    const h = new Headers(headersAt(NOW));
    expect(verifyWebhook(secret, body, h, clock).event).toEqual(JSON.parse(body));
    h.delete('webhook-signature');
    expect(codeOf(() => verifyWebhook(secret, body, h, clock))).toBe('missing_headers');
  });

  it('accepts signatures that a Headers instance joined with ", "', () => {
    const plain = headersAt(NOW);
    const h = new Headers(plain);
    h.append('webhook-signature', signWebhook(generateWebhookSecret(), 'msg_1', Number(plain['webhook-timestamp']), body));
    expect(h.get('webhook-signature')).toContain(', ');
    expect(verifyWebhook(secret, body, h, clock).id).toBe('msg_1');
  });
});

describe('WebhookReceiver', () => {
  it('verifies and returns the parsed event', () => {
    const receiver = new WebhookReceiver(secret, clock);
    const { event } = receiver.verify<{ type: string }>(body, headersAt(NOW));
    expect(event.type).toBe('channel.message');
  });

  it('refuses a replayed id within the tolerance window', () => {
    const receiver = new WebhookReceiver(secret, clock);
    const h = headersAt(NOW, 'msg_replay');
    receiver.verify(body, h);
    expect(codeOf(() => receiver.verify(body, h))).toBe('replayed');
    // A redelivery, freshly signed with the same id, is a duplicate too.
    expect(codeOf(() => receiver.verify(body, headersAt(NOW + 5_000, 'msg_replay')))).toBe('replayed');
    // Other ids are unaffected.
    expect(receiver.verify(body, headersAt(NOW, 'msg_other')).id).toBe('msg_other');
  });

  it('does not remember ids of refused requests', () => {
    const receiver = new WebhookReceiver(secret, clock);
    const h = headersAt(NOW, 'msg_x');
    expect(codeOf(() => receiver.verify(body + 'x', h))).toBe('bad_signature');
    const text = 'not json';
    expect(codeOf(() => receiver.verify(text, headersAt(NOW, 'msg_x', text)))).toBe('bad_body');
    expect(receiver.verify(body, h).id).toBe('msg_x');
  });

  it('forgets an id once a request carrying it could no longer pass the timestamp check', () => {
    let now = NOW;
    const receiver = new WebhookReceiver(secret, { toleranceSeconds: 60, now: () => now });
    const signedAt = NOW + 30_000; // signed by a clock 30 s ahead
    receiver.verify(body, headersAt(signedAt, 'msg_old'));
    now = signedAt + 60_000; // last moment that exact request is still within tolerance
    expect(codeOf(() => receiver.verify(body, headersAt(signedAt, 'msg_old')))).toBe('replayed');
    now += 1_000;
    expect(codeOf(() => receiver.verify(body, headersAt(signedAt, 'msg_old')))).toBe('timestamp_out_of_tolerance');
    // A fresh delivery with that id is accepted again once the window has passed.
    expect(receiver.verify(body, headersAt(now, 'msg_old')).id).toBe('msg_old');
  });

  it('verifyWebhook, being stateless, accepts the same request twice', () => {
    const h = headersAt(NOW, 'msg_twice');
    expect(verifyWebhook(secret, body, h, clock).id).toBe('msg_twice');
    expect(verifyWebhook(secret, body, h, clock).id).toBe('msg_twice');
  });
});
