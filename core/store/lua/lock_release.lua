--! needs: lib
-- lock_release: ARGV token now -> status
local k = KEYS[1]
if live(redis.call('HGET', k, 'e'), ARGV[2]) and
   redis.call('HGET', k, 'd') == ARGV[1] then
  redis.call('DEL', k) return 0 end
return 1
