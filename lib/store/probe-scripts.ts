/**
 * Lua scripts of active probing and operator drain (lib/cluster/prober.ts, lib/store/probe-store.ts).
 * They write the same state hash `<prefix>target:<id>:health` as the scripts in scripts.ts (state,
 * until, cause, instance, since), so every instance's TargetHealth follows them. A state with no end
 * has `until` = NO_END (lib/routing/health.ts) and no expiry. Each change appends one event.
 */

/** Shared: writes a state with no end (`until` = ARGV NO_END), no TTL, resets both runs, appends the event. */
const WRITE_OPEN_STATE = `
local function writeOpenState(health, counters, events, state, noEnd, cause, now, instance, maxlen, target)
  redis.call('DEL', health)
  redis.call('HSET', health, 'state', state, 'until', noEnd, 'cause', cause, 'instance', instance, 'since', now)
  redis.call('HDEL', counters, 'failureRun', 'failureRunLabels', 'probeSuccesses', 'probeFailures', 'probeFailureLabels')
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'type', 'target-' .. state, 'target', target, 'until', noEnd, 'cause', cause, 'instance', instance)
end
`;

/**
 * Takes or renews this instance's probe lease on each target: renewed when this instance holds it,
 * taken when nobody does (SET NX PX), left alone when another instance holds it.
 * KEYS: one lease key per target. ARGV[1] instance, ARGV[2] lease ms.
 * Returns one 1 (held by this instance now) or 0 per key.
 */
export const TAKE_PROBE_LEASES = `
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

/**
 * Gives up this instance's leases (clean shutdown), so another instance probes at its next round.
 * KEYS: lease keys. ARGV[1] instance. Returns how many were released.
 */
export const RELEASE_PROBE_LEASES = `
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
`;

/**
 * One probe's result (stepProbe in lib/routing/health.ts is its pure model), applied only while this
 * instance still holds the target's lease (a prober that lost it, e.g. paused past the lease, changes nothing).
 * KEYS[1] target counter hash, KEYS[2] health hash, KEYS[3] events stream, KEYS[4] lease key
 * ARGV[1] alive (1/0), ARGV[2] failure label, ARGV[3] downAfter, ARGV[4] upAfter, ARGV[5] now,
 * ARGV[6] instance, ARGV[7] stream max length, ARGV[8] targetId, ARGV[9] NO_END
 * Returns {'lost'}, {'count', successes, failures}, {'down', cause} or {'up', was, cause}.
 */
export const PROBE_RESULT = `${WRITE_OPEN_STATE}
if redis.call('GET', KEYS[4]) ~= ARGV[6] then return {'lost'} end
local now = tonumber(ARGV[5])
local downAfter = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[2], 'state', 'until', 'cause')
local inForce = h[1] and tonumber(h[2] or '0') > now
local s, f, labels = 0, 0, ''
if ARGV[1] == '1' then
  s = redis.call('HINCRBY', KEYS[1], 'probeSuccesses', 1)
  redis.call('HDEL', KEYS[1], 'probeFailures', 'probeFailureLabels')
else
  redis.call('HDEL', KEYS[1], 'probeSuccesses')
  f = redis.call('HINCRBY', KEYS[1], 'probeFailures', 1)
  local all = {}
  local prev = redis.call('HGET', KEYS[1], 'probeFailureLabels')
  if prev and prev ~= '' then for l in string.gmatch(prev, '[^,]+') do all[#all + 1] = l end end
  all[#all + 1] = ARGV[2]
  while #all > downAfter do table.remove(all, 1) end
  labels = table.concat(all, ',')
  redis.call('HSET', KEYS[1], 'probeFailureLabels', labels)
end
if inForce and h[1] == 'down' then
  if s >= tonumber(ARGV[4]) then
    redis.call('DEL', KEYS[2])
    redis.call('HDEL', KEYS[1], 'failureRun', 'failureRunLabels', 'probeSuccesses', 'probeFailures', 'probeFailureLabels')
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'type', 'target-up', 'target', ARGV[8], 'was', 'down', 'cause', h[3] or '', 'instance', ARGV[6], 'by', 'probe')
    return {'up', 'down', h[3] or ''}
  end
  return {'count', tostring(s), tostring(f)}
end
if inForce then return {'count', tostring(s), tostring(f)} end
if f >= downAfter then
  local cause = tostring(f) .. ' probe failures (' .. labels .. ')'
  writeOpenState(KEYS[2], KEYS[1], KEYS[3], 'down', ARGV[9], cause, ARGV[5], ARGV[6], ARGV[7], ARGV[8])
  return {'down', cause}
end
return {'count', tostring(s), tostring(f)}
`;

/**
 * Operator drain: the target takes no new calls until undrained (whatever state it was in).
 * KEYS[1] health hash, KEYS[2] target counter hash, KEYS[3] events stream
 * ARGV[1] NO_END, ARGV[2] cause, ARGV[3] now, ARGV[4] instance, ARGV[5] stream max length, ARGV[6] targetId
 * Returns 1 when drained now, 0 when it already was.
 */
export const DRAIN_TARGET = `${WRITE_OPEN_STATE}
if redis.call('HGET', KEYS[1], 'state') == 'draining' then return 0 end
writeOpenState(KEYS[1], KEYS[2], KEYS[3], 'draining', ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
`;

/**
 * Operator undrain: a drained target is back in selection (the probes and real calls judge it from now).
 * KEYS[1] health hash, KEYS[2] events stream
 * ARGV[1] instance, ARGV[2] stream max length, ARGV[3] targetId
 * Returns 1 when undrained now, 0 when it was not drained.
 */
export const UNDRAIN_TARGET = `
local h = redis.call('HMGET', KEYS[1], 'state', 'cause')
if h[1] ~= 'draining' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'target-undrained', 'target', ARGV[3], 'was', 'draining', 'cause', h[2] or '', 'instance', ARGV[1])
return 1
`;
