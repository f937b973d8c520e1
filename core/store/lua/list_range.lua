--! needs: lib
-- list_range: KEYS list; ARGV now first last -> its elements first..last
-- (Redis indexes: element 0 is the list's expiry, see the top of
-- store_redis.c), none when the list is absent or expired
local k = KEYS[1]
if not live(redis.call('LINDEX', k, 0), ARGV[1]) then return {} end
return redis.call('LRANGE', k, ARGV[2], ARGV[3])
