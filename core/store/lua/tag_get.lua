--! needs: lib
-- tag_get: ARGV now -> bytes or nil
if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then
  return false end
return redis.call('HGET', KEYS[1], 'd')
