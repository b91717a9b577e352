/**
 * Lua run inside Redis so that dedup, serial, history and fan-out of one publish happen as one step:
 * every node sees a channel's messages in serial order, and a resend is collapsed whichever node
 * it reaches.
 */

/** How a script fans out: classic pub/sub on one Redis, sharded pub/sub (the channel's shard only) on a cluster. */
export type FanOutCommand = 'PUBLISH' | 'SPUBLISH';

/**
 * KEYS: seq, epoch, history stream, dedup record, pub/sub channel (all under the channel's hash tag,
 * so on a cluster they share one slot, the shard channel included)
 * ARGV: message JSON without seq, epoch candidate, history limit, retention ms, dedup window ms, ephemeral (0/1)
 * Returns [seq (0 for ephemeral), duplicate (0/1), epoch]
 */
export const publishScript = (fanOut: FanOutCommand): string => `
local seen = redis.call('GET', KEYS[4])
if seen then
  return {tonumber(seen), 1, redis.call('GET', KEYS[2]) or ''}
end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
local epoch = redis.call('GET', KEYS[2])
local retention = tonumber(ARGV[4])
local seq = 0
local body = ARGV[1]
if ARGV[6] == '0' then
  seq = redis.call('INCR', KEYS[1])
  body = string.sub(body, 1, -2) .. ',"seq":' .. seq .. '}'
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], seq .. '-0', 'm', body)
  redis.call('PEXPIRE', KEYS[3], retention)
end
redis.call('PEXPIRE', KEYS[1], retention * 2)
redis.call('PEXPIRE', KEYS[2], retention * 2)
redis.call('SET', KEYS[4], seq, 'PX', ARGV[5])
redis.call('${fanOut}', KEYS[5], 'm' .. body)
return {seq, 0, epoch}
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
