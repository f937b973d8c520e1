--! needs: lib
-- counter_get: ARGV now -> value
if not live(redis.call('HGET', KEYS[1], 'e'), ARGV[1]) then
  return '0' end
return redis.call('HGET', KEYS[1], 'd') or '0'
