/**
 * Lua scripts that keep the call record and the per-target counters in step atomically.
 * The record is the token: `active` is incremented only when the record is created and
 * decremented only by the caller that deletes it, so two BYEs (or two instances) racing
 * to end one call decrement once.
 */

/**
 * KEYS[1] call hash, KEYS[2] target hash, KEYS[3] instance call set, KEYS[4] targets set
 * ARGV[1] call key, ARGV[2] targetId, ARGV[3..] field/value pairs of the record
 * Returns 1 when recorded, 0 when a record for this call key already existed (nothing counted).
 */
export const RECORD_ANSWERED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[2], 'active', 1)
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HINCRBY', KEYS[2], 'answered', 1)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return 1
`;

/**
 * KEYS[1] call hash
 * ARGV[1] call key, ARGV[2] key prefix
 * Returns the target id whose `active` was decremented, or false when there was no record.
 */
export const END_CALL = `
local rec = redis.call('HMGET', KEYS[1], 'target', 'instance')
local target = rec[1]
if not target then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. 'instance:' .. rec[2] .. ':calls', ARGV[1])
redis.call('HINCRBY', ARGV[2] .. 'target:' .. target, 'active', -1)
return target
`;
