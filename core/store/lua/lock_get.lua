--! needs: lib
-- lock_get: ARGV now -> token or nil
if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then
  return false end
return redis.call('HGET', KEYS[1], 'd')
