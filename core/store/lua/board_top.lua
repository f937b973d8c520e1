--! needs: lib
-- board_top: KEYS bm bz; ARGV now last -> order keys
if not live(redis.call('HGET', KEYS[1], ''), ARGV[1]) then
  return {} end
return redis.call('ZRANGE', KEYS[2], 0, ARGV[2])
