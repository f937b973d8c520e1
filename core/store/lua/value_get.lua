--! needs: lib
-- value_get: ARGV now -> {version, bytes} or nil
if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then
  return false end
return redis.call('HMGET', KEYS[1], 'n', 'd')
