/**
 * Lua run inside Redis so that dedup, serial, history and fan-out of one publish happen as one step:
 * every node sees a channel's messages in serial order, and a resend is collapsed whichever node
 * it reaches.
 */

/** How a script fans out: classic pub/sub on one Redis, sharded pub/sub (the channel's shard only) on a cluster. */
export type FanOutCommand = 'PUBLISH' | 'SPUBLISH';

/** Keys of one publish in a batch, and its arguments after the batch's own two. */
export const PUBLISH_KEYS = 5;
export const PUBLISH_ARGS = 4;

/**
 * A turn's publishes in one call, each one step of its own in call order (so a later one sees an
 * earlier one's dedup record and serial).
 * KEYS, per publish: seq, epoch, history stream, dedup record, pub/sub channel (all under the channel's
 * hash tag, so on a cluster they share one slot, the shard channel included; a cluster batch holds one
 * channel's publishes only).
 * ARGV: epoch candidate, dedup window ms; then per publish: message JSON without seq, history limit,
 * retention ms, ephemeral (0/1).
 * Returns one integer per publish: seq * 2 + duplicate (seq 0 for ephemeral), -1 when its history
 * entry was refused (the stream is ahead of the serial), or -2 when Redis refused another of its
 * commands (a key of the wrong type): only that publish fails, and it was not sent to subscribers.
 * The reply is integers alone, the cheapest for every node to read; the epoch is not in it: a publisher
 * never needs it.
 */
export const publishBatchScript = (fanOut: FanOutCommand): string => `
local window = ARGV[2]
local function step(k, a)
  local seen = redis.call('GET', KEYS[k + 4])
  if seen then return tonumber(seen) * 2 + 1 end
  redis.call('SET', KEYS[k + 2], ARGV[1], 'NX')
  local retention = tonumber(ARGV[a + 3])
  local seq = 0
  local body = ARGV[a + 1]
  if ARGV[a + 4] == '0' then
    seq = redis.call('INCR', KEYS[k + 1])
    body = string.sub(body, 1, -2) .. ',"seq":' .. seq .. '}'
    local added = redis.pcall('XADD', KEYS[k + 3], 'MAXLEN', ARGV[a + 2], seq .. '-0', 'm', body)
    if type(added) == 'table' and added.err ~= nil then return -1 end
    redis.call('PEXPIRE', KEYS[k + 3], retention)
  end
  redis.call('PEXPIRE', KEYS[k + 1], retention * 2)
  redis.call('PEXPIRE', KEYS[k + 2], retention * 2)
  -- A window of 0 keeps no record (Redis refuses an expiry of 0).
  if window ~= '0' then redis.call('SET', KEYS[k + 4], seq, 'PX', window) end
  redis.call('${fanOut}', KEYS[k + 5], 'm' .. body)
  return seq * 2
end
local out = {}
for i = 0, #KEYS / ${PUBLISH_KEYS} - 1 do
  -- A command Redis refuses (a key of the wrong type) fails that publish alone, not the call.
  local ok, result = pcall(step, i * ${PUBLISH_KEYS}, 2 + i * ${PUBLISH_ARGS})
  if ok then out[i + 1] = result else out[i + 1] = -2 end
end
return out
`;

/**
 * The channel's presence serial: one more than the last, or Redis's clock in microseconds when that is
 * higher, so it keeps growing even after Redis lost the key (see `nextPresenceSerial`).
 */
const NEXT_PRESENCE_SERIAL = `
local function nextSerial(key, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local serial = math.max(tonumber(redis.call('GET', key) or '0') + 1, now)
  redis.call('SET', key, string.format('%.0f', serial), 'PX', ttl)
  return serial
end
`;

/**
 * Presence hash fields are `clientId|nodeId|connectionId`, values `timestamp\\nencoding\\ndata-json`.
 * KEYS: presence hash, presence serial. ARGV: field, value, clientId, connectionId, serial ttl ms.
 * Returns [what happened to this connection's hold ('enter', 'update' or ''), presence serial, the value
 * written, the hold that spoke for the member before (field, value; '' when the client held nothing)].
 * A connection held through another node (it resumed here before that node let go) is the same hold.
 * The serial moves only when something changed: the hold, or the data the member shows.
 * The hold written last speaks for the member: its timestamp is put past the member's other holds',
 * so writes within one millisecond (or from a node whose clock is behind) keep their order.
 */
export const PRESENCE_ENTER_SCRIPT = `${NEXT_PRESENCE_SERIAL}
local function payload(v) return string.match(v, '^%d+\\n(.*)$') end
local prefix = ARGV[3] .. '|'
local suffix = '|' .. ARGV[4]
local old = nil
local visible = nil
local visibleField = ''
local visibleTs = -1
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then
    local ts = tonumber(string.match(fields[i + 1], '^(%d+)'))
    if ts > visibleTs then visibleTs = ts; visible = fields[i + 1]; visibleField = fields[i] end
    if string.sub(fields[i], -#suffix) == suffix and (old == nil or fields[i] == ARGV[1]) then old = fields[i + 1] end
  end
end
local value = ARGV[2]
if tonumber(string.match(value, '^(%d+)')) <= visibleTs then
  value = string.format('%.0f', visibleTs + 1) .. '\\n' .. payload(value)
end
local hold = 'enter'
if old then
  if payload(old) == payload(value) then hold = '' else hold = 'update' end
end
redis.call('HSET', KEYS[1], ARGV[1], value)
local shownSame = visible ~= nil and payload(visible) == payload(value)
if shownSame and hold == '' then return {'', tonumber(redis.call('GET', KEYS[2]) or '0'), value, visibleField, visible} end
return {hold, nextSerial(KEYS[2], ARGV[5]), value, visibleField, visible or ''}
`;

/**
 * KEYS: presence hash, presence serial. ARGV: field, clientId, connectionId, serial ttl ms.
 * Returns [removed value, '1' when the same connection is still held through another node, presence
 * serial, the hold that spoke for the member before (field, value), the one that speaks for it after
 * (field, value; '' when the client holds nothing now)]. The serial moves whenever a hold was removed.
 */
export const PRESENCE_LEAVE_SCRIPT = `${NEXT_PRESENCE_SERIAL}
local function ts(v) return tonumber(string.match(v, '^(%d+)')) end
local removed = redis.call('HGET', KEYS[1], ARGV[1])
if not removed then return {'', '', tonumber(redis.call('GET', KEYS[2]) or '0'), '', '', '', ''} end
local prefix = ARGV[2] .. '|'
local suffix = '|' .. ARGV[3]
local before = nil
local beforeField = ''
local beforeTs = -1
local after = nil
local afterField = ''
local afterTs = -1
local sameConnection = ''
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then
    local t = ts(fields[i + 1])
    if t > beforeTs then beforeTs = t; before = fields[i + 1]; beforeField = fields[i] end
    if fields[i] ~= ARGV[1] then
      if t > afterTs then afterTs = t; after = fields[i + 1]; afterField = fields[i] end
      if string.sub(fields[i], -#suffix) == suffix then sameConnection = '1' end
    end
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return {removed, sameConnection, nextSerial(KEYS[2], ARGV[4]), beforeField, before, afterField, after or ''}
`;

/**
 * KEYS: presence hash, presence serial. Returns [presence serial, field, value, field, value, ...]:
 * the holds and the serial they are as of, read in one step.
 */
export const PRESENCE_SYNC_SCRIPT = `
local serial = tonumber(redis.call('GET', KEYS[2]) or '0')
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, serial)
return out
`;
