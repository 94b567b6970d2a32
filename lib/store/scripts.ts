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
 * KEYS[6] instances set, KEYS[7] cluster totals hash, KEYS[8] the target's reservations (sorted set)
 * ARGV[1] call key, ARGV[2] targetId, ARGV[3] stream max length, ARGV[4] the capacity reservation this call
 * held ('' = none), ARGV[5] the record as a JSON object of strings (one argument instead of a pair per field:
 * the client builds, and Redis parses, a third of the arguments)
 * The reservation becomes the call's `active` slot in the same step, so the target's load (active +
 * reserved) never dips or doubles in between. The answer also ends the target's passive failure run
 * (lib/cluster/target-health.ts), so an answered call costs no round trip of its own for that.
 * Returns 1 when recorded, 0 when a record for this call key already existed (nothing counted).
 */
const RECORD_ANSWERED_FN = `
local function recordAnswered(KEYS, ARGV)
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[8], ARGV[4]) end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local rec = cjson.decode(ARGV[5])
local fields = {}
for k, v in pairs(rec) do
  fields[#fields + 1] = k
  fields[#fields + 1] = v
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[2], 'active', 1)
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HINCRBY', KEYS[2], 'answered', 1)
redis.call('HDEL', KEYS[2], 'failureRun', 'failureRunLabels')
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[6], rec.instance)
redis.call('HINCRBY', KEYS[7], 'active', 1)
redis.call('HINCRBY', KEYS[7], 'attempts', 1)
redis.call('HINCRBY', KEYS[7], 'answered', 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'type', 'answered', 'call', ARGV[1], 'target', ARGV[2], 'instance', rec.instance, 'route', rec.route)
return 1
end
`;
export const RECORD_ANSWERED = `${RECORD_ANSWERED_FN}
return recordAnswered(KEYS, ARGV)
`;

/*
 * Capacity (lib/cluster/capacity.ts). A target with `maxCalls` or `maxCps` is reserved before each
 * INVITE to it: its load is `active` (answered calls, counter hash) + its reservations
 * (`<prefix>target:<id>:reserved`, one member per attempt being set up, scored by when it expires, so an
 * instance that dies mid-setup leaks nothing for longer than that). INVITEs of the last second are in
 * `<prefix>target:<id>:starts`. `full` in the counter hash (`calls` | `cps`) is the cluster's one flag:
 * only the script that flips it writes the `target-full` / `target-free` event. Time is Redis's own
 * (TIME, allowed before writes since Redis 5's script effects replication, the default from 7), so the
 * instances' clocks do not matter.
 */

/** Shared: the current time in ms from Redis's clock. */
const REDIS_NOW = `
local function redisNow()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Used by RELEASE_CAPACITY (also run, with no reservation, after a call on a target with maxCalls ended): a target full of calls whose load fell below its `fullAt`
 * (the maxCalls it was full at) is free again: flag cleared, one `target-free` event. Returns 1 then.
 */
const FREE_IF_ROOM = `${REDIS_NOW}
local function freeIfRoom(hash, reserved, events, maxlen, instance, target)
  local f = redis.call('HMGET', hash, 'full', 'fullAt', 'active')
  if f[1] ~= 'calls' then return 0 end
  local now = redisNow()
  local load = tonumber(f[3] or '0') + redis.call('ZCOUNT', reserved, '(' .. now, '+inf')
  if load >= tonumber(f[2] or '0') then return 0 end
  redis.call('HDEL', hash, 'full', 'fullAt')
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'type', 'target-free', 'target', target, 'was', 'calls', 'load', tostring(load), 'instance', instance)
  return 1
end
`;

/**
 * Reserves room for one INVITE at a target, or refuses it (full), in one step for the whole cluster.
 * KEYS[1] target counter hash, KEYS[2] reservations (sorted set), KEYS[3] INVITEs of the last second (sorted set),
 * KEYS[4] events stream, KEYS[5] targets set
 * ARGV[1] reservation id (unique per attempt), ARGV[2] how long it lives (ms), ARGV[3] maxCalls (0 = none),
 * ARGV[4] maxCps (0 = none), ARGV[5] instance, ARGV[6] stream max length, ARGV[7] targetId
 * Returns {result, transition, load}: result `ok` (reserved) or the limit that refused it (`calls` | `cps`);
 * transition `full` (this call made the target full), `free` (it was full and is not now) or ''; load =
 * active + reserved after the step.
 */
export const RESERVE_CAPACITY = `${REDIS_NOW}
local now = redisNow()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local maxCalls = tonumber(ARGV[3])
local maxCps = tonumber(ARGV[4])
local load = math.max(0, tonumber(redis.call('HGET', KEYS[1], 'active') or '0')) + redis.call('ZCARD', KEYS[2])
local refused = false
if maxCalls > 0 and load >= maxCalls then refused = 'calls' end
if maxCps > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 1000)
  if not refused and redis.call('ZCARD', KEYS[3]) >= maxCps then refused = 'cps' end
end
local was = redis.call('HGET', KEYS[1], 'full')
if refused then
  if was == refused then return {refused, '', load} end
  redis.call('HSET', KEYS[1], 'full', refused, 'fullAt', ARGV[3])
  redis.call('SADD', KEYS[5], ARGV[7])
  if was then return {refused, '', load} end
  local limit = maxCps
  if refused == 'calls' then limit = maxCalls end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'target-full', 'target', ARGV[7], 'limit', refused, 'max', tostring(limit), 'load', tostring(load), 'instance', ARGV[5])
  return {refused, 'full', load}
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
-- the key lives as long as its longest reservation (routes may have different ring timeouts)
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
if maxCps > 0 then
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[3], 2000)
end
load = load + 1
if was then
  redis.call('HDEL', KEYS[1], 'full', 'fullAt')
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'target-free', 'target', ARGV[7], 'was', was, 'load', tostring(load), 'instance', ARGV[5])
  return {'ok', 'free', load}
end
return {'ok', '', load}
`;

/**
 * Gives back a reservation whose attempt did not become a call (failed, cancelled, timed out).
 * KEYS[1] target counter hash, KEYS[2] reservations, KEYS[3] events stream
 * ARGV[1] reservation id, ARGV[2] instance, ARGV[3] stream max length, ARGV[4] targetId
 * Returns {removed (0|1), freed (0|1)}.
 */
export const RELEASE_CAPACITY = `${FREE_IF_ROOM}
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
return {removed, freeIfRoom(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[2], ARGV[4])}
`;

/**
 * KEYS[1] call hash, KEYS[2] events stream
 * ARGV[1] call key, ARGV[2] key prefix, ARGV[3] who ended it (caller, target, …), ARGV[4] now (epoch ms),
 * ARGV[5] stream max length, ARGV[6] the instance ending it
 * Returns the target id whose `active` was decremented, or false when there was no record.
 */
const END_CALL_FN = `
local function endCall(KEYS, ARGV)
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
end
`;
export const END_CALL = `${END_CALL_FN}
return endCall(KEYS, ARGV)
`;

/**
 * Counts one attempt that did not become a call (lib/store/call-store.ts `countAttempt`).
 * KEYS[1] target hash, KEYS[2] targets set, KEYS[3] cluster totals hash, KEYS[4] events stream
 * ARGV[1] targetId, ARGV[2] the target's field (`canceled`, `failed:<label>`), ARGV[3] stream max length, ARGV[4] instance
 */
const COUNT_ATTEMPT_FN = `
local function countAttempt(KEYS, ARGV)
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'attempts', 1)
local total = 'failed'
if ARGV[2] == 'canceled' then total = 'canceled' end
redis.call('HINCRBY', KEYS[3], total, 1)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'attempt', 'target', ARGV[1], 'result', ARGV[2], 'instance', ARGV[4])
return 1
end
`;
export const COUNT_ATTEMPT = `${COUNT_ATTEMPT_FN}
return countAttempt(KEYS, ARGV)
`;

/** The kinds of write a WRITE_BATCH runs, each the script function of the same name above. */
export type BatchedWrite = 'answered' | 'end' | 'attempt';

/**
 * The call path's writes of one batch window (lib/store/write-batch.ts) in one script: each op runs
 * as its own script would (RECORD_ANSWERED, END_CALL, the attempt count), in the order given.
 * ARGV[1] a JSON array of ops, each `[kind, keys, args]` (strings only).
 * Returns one `{1, result}` per op, or `{0, error}` for an op that failed (the others still run: each is
 * its own step, as when they were separate scripts).
 */
export const WRITE_BATCH = `${RECORD_ANSWERED_FN}${END_CALL_FN}${COUNT_ATTEMPT_FN}
local ops = cjson.decode(ARGV[1])
local fns = { answered = recordAnswered, ['end'] = endCall, attempt = countAttempt }
local out = {}
for i, op in ipairs(ops) do
  local fn = fns[op[1]]
  if fn then
    local ok, r = pcall(fn, op[2], op[3])
    if ok then
      out[i] = {1, r}
    else
      if type(r) == 'table' and r.err then r = r.err end
      out[i] = {0, tostring(r)}
    end
  else
    out[i] = {0, 'unknown write ' .. tostring(op[1])}
  end
end
return out
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
