--! needs: lib
-- board_rank: KEYS bm bz; ARGV member now -> {status, rank0, okey}
if not live(redis.call('HGET', KEYS[1], ''), ARGV[2]) then
  return {2} end
local o = redis.call('HGET', KEYS[1], ARGV[1])
if not o then return {2} end
local r = redis.call('ZRANK', KEYS[2], o)
if not r then return redis.error_reply('board member without its order entry') end
return {0, r, o}
