--! needs: lib journal
-- value_cas: ARGV expect bytes expire_at now -> {status, version}.
-- The version lives in the record (see the top of store_redis.c).
local k = KEYS[1]
if jopen(KEYS[2], ARGV[4]) == -3 then return {3, '0'} end
local e, n = unpack(redis.call('HMGET', k, 'e', 'n'))
local cur = '0'
if live(e, ARGV[4]) then cur = n or '0' end
if cur ~= ARGV[1] then return {1, cur} end
if n then redis.call('HINCRBY', k, 'n', 1)
else
  local t = redis.call('TIME')
  redis.call('HSET', k, 'n',
             t[1] .. string.format('%06d', tonumber(t[2])))
end
redis.call('HSET', k, 'd', ARGV[2], 'e', ARGV[3])
keep(k, ARGV[3], ARGV[4])
return {0, redis.call('HGET', k, 'n')}
