/**
 * Lua run inside Redis so that dedup, serial, history and fan-out of one publish happen as one step:
 * every node sees a channel's messages in serial order, and a resend is collapsed whichever node
 * it reaches.
 */

/**
 * KEYS: seq, epoch, history stream, dedup record, pub/sub channel
 * ARGV: message JSON without seq, epoch candidate, history limit, retention ms, dedup window ms, ephemeral (0/1)
 * Returns [seq (0 for ephemeral), duplicate (0/1), epoch]
 */
export const PUBLISH_SCRIPT = `
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
redis.call('PUBLISH', KEYS[5], 'm' .. body)
return {seq, 0, epoch}
`;

/**
 * Presence hash fields are `clientId|nodeId|connectionId`, values `timestamp\\nencoding\\ndata-json`.
 * KEYS: presence hash. ARGV: field, value, clientId, connectionId.
 * Returns [what watchers by client id see, what happened to this connection's hold]: each
 * 'enter', 'update' or ''. A connection held through another node (it resumed here before that
 * node let go) is the same hold.
 */
export const PRESENCE_ENTER_SCRIPT = `
local function payload(v) return string.match(v, '^%d+\\n(.*)$') end
local prefix = ARGV[3] .. '|'
local suffix = '|' .. ARGV[4]
local old = nil
local visible = nil
local visibleTs = -1
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then
    local ts = tonumber(string.match(fields[i + 1], '^(%d+)'))
    if ts > visibleTs then visibleTs = ts; visible = fields[i + 1] end
    if string.sub(fields[i], -#suffix) == suffix and (old == nil or fields[i] == ARGV[1]) then old = fields[i + 1] end
  end
end
local hold = 'enter'
if old then
  if payload(old) == payload(ARGV[2]) then hold = '' else hold = 'update' end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if visible == nil then return {'enter', hold} end
if payload(visible) == payload(ARGV[2]) then return {'', hold} end
return {'update', hold}
`;

/**
 * KEYS: presence hash. ARGV: field, clientId, connectionId.
 * Returns [action ('leave' or ''), removed value, '1' when the same connection is still held
 * through another node] — action '' while another connection still holds the member.
 */
export const PRESENCE_LEAVE_SCRIPT = `
local removed = redis.call('HGET', KEYS[1], ARGV[1])
if not removed then return {'', '', ''} end
redis.call('HDEL', KEYS[1], ARGV[1])
local prefix = ARGV[2] .. '|'
local suffix = '|' .. ARGV[3]
local action = 'leave'
local sameConnection = ''
local fields = redis.call('HKEYS', KEYS[1])
for i = 1, #fields do
  if string.sub(fields[i], 1, #prefix) == prefix then
    action = ''
    if string.sub(fields[i], -#suffix) == suffix then sameConnection = '1' end
  end
end
return {action, removed, sameConnection}
`;
