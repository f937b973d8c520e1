--! needs: lib
-- lock_acquire: ARGV token expire_at now -> status
local k = KEYS[1]
if live(redis.call('HGET', k, 'e'), ARGV[3]) and
   redis.call('HGET', k, 'd') ~= ARGV[1] then return 1 end
redis.call('HSET', k, 'd', ARGV[1], 'e', ARGV[2])
keep(k, ARGV[2], ARGV[3])
return 0
