/**
 * Lua scripts that keep the call record, the per-target counters, the owners' call sets and the
 * event stream in step atomically. The record is the token: `active` is incremented only when the
 * record is created and decremented only by the caller that deletes it, so two BYEs (or two
 * instances) racing to end one call decrement once, and exactly one `ended` event is written.
 *
 * Keys an instance derives inside a script (`<prefix>instance:<id>:calls`, `<prefix>target:<id>`)
 * are built from the prefix passed in ARGV; the dispatcher supports a single Redis (not Redis Cluster).
 */

/**
 * KEYS[1] call hash, KEYS[2] target hash, KEYS[3] instance call set, KEYS[4] targets set, KEYS[5] events stream,
 * KEYS[6] instances set, KEYS[7] cluster totals hash
 * ARGV[1] call key, ARGV[2] targetId, ARGV[3] stream max length, ARGV[4..] field/value pairs of the record
 * Returns 1 when recorded, 0 when a record for this call key already existed (nothing counted).
 */
export const RECORD_ANSWERED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[2], 'active', 1)
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HINCRBY', KEYS[2], 'answered', 1)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
local rec = redis.call('HMGET', KEYS[1], 'instance', 'route')
redis.call('SADD', KEYS[6], rec[1])
redis.call('HINCRBY', KEYS[7], 'active', 1)
redis.call('HINCRBY', KEYS[7], 'attempts', 1)
redis.call('HINCRBY', KEYS[7], 'answered', 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'type', 'answered', 'call', ARGV[1], 'target', ARGV[2], 'instance', rec[1], 'route', rec[2])
return 1
`;

/**
 * KEYS[1] call hash, KEYS[2] events stream
 * ARGV[1] call key, ARGV[2] key prefix, ARGV[3] who ended it (caller, target, …), ARGV[4] now (epoch ms),
 * ARGV[5] stream max length, ARGV[6] the instance ending it
 * Returns the target id whose `active` was decremented, or false when there was no record.
 */
export const END_CALL = `
local rec = redis.call('HMGET', KEYS[1], 'target', 'instance', 'answeredAt', 'route')
local target = rec[1]
if not target then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. 'instance:' .. rec[2] .. ':calls', ARGV[1])
redis.call('HINCRBY', ARGV[2] .. 'target:' .. target, 'active', -1)
redis.call('HINCRBY', ARGV[2] .. 'totals', 'active', -1)
redis.call('HINCRBY', ARGV[2] .. 'totals', 'ended', 1)
local duration = tonumber(ARGV[4]) - (tonumber(rec[3]) or tonumber(ARGV[4]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'ended', 'call', ARGV[1], 'target', target, 'instance', ARGV[6], 'owner', rec[2], 'route', rec[4] or '', 'by', ARGV[3], 'durationMs', tostring(duration))
return target
`;

/**
 * Moves a dead instance's calls to an adopter, if the adopter still holds the takeover lock with its
 * fencing token (a survivor whose lock expired, or that lost it to another, changes nothing).
 * KEYS[1] takeover lock, KEYS[2] dead instance's call set, KEYS[3] adopter's call set, KEYS[4] events stream
 * ARGV[1] fencing token, ARGV[2] adopter id, ARGV[3] dead id, ARGV[4] key prefix, ARGV[5] now, ARGV[6] stream max length
 * Returns the adopted call keys, or false when the lock is not (or no longer) ours.
 */
export const ADOPT_CALLS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local keys = redis.call('SMEMBERS', KEYS[2])
local adopted = {}
for _, k in ipairs(keys) do
  local call = ARGV[4] .. 'call:' .. k
  if redis.call('EXISTS', call) == 1 then
    redis.call('HSET', call, 'instance', ARGV[2], 'adoptedAt', ARGV[5], 'adoptedFrom', ARGV[3])
    redis.call('SADD', KEYS[3], k)
    adopted[#adopted + 1] = k
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'adopted', 'call', k, 'instance', ARGV[2], 'from', ARGV[3])
  end
end
redis.call('DEL', KEYS[2])
return adopted
`;

/**
 * Recomputes every target's \`active\` from the call records the live owners' sets hold (after a Redis
 * outage, or to repair drift). KEYS[1] targets set, KEYS[2] instances set; ARGV[1] key prefix.
 * Returns the number of calls counted.
 */
export const REBUILD_ACTIVE = `
local counts = {}
for _, t in ipairs(redis.call('SMEMBERS', KEYS[1])) do counts[t] = 0 end
local total = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local set = ARGV[1] .. 'instance:' .. id .. ':calls'
  for _, k in ipairs(redis.call('SMEMBERS', set)) do
    local t = redis.call('HGET', ARGV[1] .. 'call:' .. k, 'target')
    if t then
      counts[t] = (counts[t] or 0) + 1
      total = total + 1
    else
      redis.call('SREM', set, k)
    end
  end
end
for t, n in pairs(counts) do
  redis.call('HSET', ARGV[1] .. 'target:' .. t, 'active', n)
  redis.call('SADD', KEYS[1], t)
end
redis.call('HSET', ARGV[1] .. 'totals', 'active', total)
return total
`;

/*
 * Target health (lib/cluster/target-health.ts). A target's state is the hash `<prefix>target:<id>:health`
 * (`state` quarantined|down, `until` epoch ms, `cause`, `instance`, `since`, later `up`); it expires
 * `keepMs` after `until`, time for one instance to announce the target back up. Its failure run is kept
 * in the target's counter hash (`failureRun`, `failureRunLabels`) so the whole cluster counts one run.
 */

/** Shared by SET_TARGET_STATE and TARGET_FAILURE: writes the state, resets the run, appends the event. */
const WRITE_STATE = `
local function writeState(health, counters, events, state, untilMs, cause, now, keepMs, instance, maxlen, target)
  redis.call('DEL', health)
  redis.call('HSET', health, 'state', state, 'until', untilMs, 'cause', cause, 'instance', instance, 'since', now)
  -- a state with no end (until = NO_END, lib/routing/health.ts) lives until it is ended
  if tonumber(untilMs) >= 8640000000000000 then redis.call('PERSIST', health) else redis.call('PEXPIREAT', health, tonumber(untilMs) + tonumber(keepMs)) end
  redis.call('HDEL', counters, 'failureRun', 'failureRunLabels')
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'type', 'target-' .. state, 'target', target, 'until', untilMs, 'cause', cause, 'instance', instance)
end
`;

/**
 * KEYS[1] health hash, KEYS[2] target counter hash, KEYS[3] events stream
 * ARGV[1] state, ARGV[2] until, ARGV[3] cause, ARGV[4] now, ARGV[5] keepMs, ARGV[6] instance, ARGV[7] stream max length, ARGV[8] targetId
 * Returns 1 when the state was written; 0 when the target is already out of selection until then or later (nothing changes).
 */
export const SET_TARGET_STATE = `${WRITE_STATE}
local cur = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if cur > tonumber(ARGV[4]) and cur >= tonumber(ARGV[2]) then return 0 end
writeState(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return 1
`;

/**
 * One failure on a real call (stepFailureRun in lib/routing/health.ts is its pure model).
 * KEYS[1] target counter hash, KEYS[2] health hash, KEYS[3] events stream
 * ARGV[1] label, ARGV[2] threshold (0 = off), ARGV[3] downMs (-1: no end, probes end it), ARGV[4] now, ARGV[5] keepMs, ARGV[6] instance, ARGV[7] stream max length, ARGV[8] targetId
 * Returns {'skip'} (target already out of selection), {'count', n}, or {'down', until, cause}.
 */
export const TARGET_FAILURE = `${WRITE_STATE}
local now = tonumber(ARGV[4])
local cur = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if cur > now then return {'skip'} end
local n = redis.call('HINCRBY', KEYS[1], 'failureRun', 1)
local labels = redis.call('HGET', KEYS[1], 'failureRunLabels')
if labels and labels ~= '' then labels = labels .. ',' .. ARGV[1] else labels = ARGV[1] end
local threshold = tonumber(ARGV[2])
if threshold > 0 and n >= threshold then
  -- downMs -1: the target is probed, and stays down until the probes bring it back (NO_END)
  local untilMs = tonumber(ARGV[3]) < 0 and '8640000000000000' or tostring(now + tonumber(ARGV[3]))
  local cause = tostring(n) .. ' consecutive failures (' .. labels .. ')'
  writeState(KEYS[2], KEYS[1], KEYS[3], 'down', untilMs, cause, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
  return {'down', untilMs, cause}
end
redis.call('HSET', KEYS[1], 'failureRunLabels', labels)
return {'count', tostring(n)}
`;

/**
 * Announces a target back up, once for the cluster.
 * KEYS[1] health hash, KEYS[2] events stream
 * ARGV[1] now, ARGV[2] instance, ARGV[3] stream max length, ARGV[4] targetId
 * Returns the state and cause it leaves (`down|3 consecutive failures (…)`), or nil when it is not over or already announced.
 */
export const TARGET_UP = `
local h = redis.call('HMGET', KEYS[1], 'state', 'until', 'cause', 'up')
if not h[1] or not h[2] or h[4] then return nil end
if tonumber(h[2]) > tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'target-up', 'target', ARGV[4], 'was', h[1], 'cause', h[3], 'instance', ARGV[2])
return h[1] .. '|' .. (h[3] or '')
`;
