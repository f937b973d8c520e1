--! needs: lib
-- board_set: KEYS bm bz; ARGV member orderkey expire_at now
local bm, bz = KEYS[1], KEYS[2]
local made = false
if not live(redis.call('HGET', bm, ''), ARGV[4]) then
  redis.call('UNLINK', bm, bz)
  redis.call('HSET', bm, '', ARGV[3])
  made = true
end
local old = redis.call('HGET', bm, ARGV[1])
if old then
  if old:sub(1, 8) == ARGV[2]:sub(1, 8) then return 0 end
  redis.call('ZREM', bz, old)
end
redis.call('HSET', bm, ARGV[1], ARGV[2])
redis.call('ZADD', bz, 0, ARGV[2])
if made then keep(bm, ARGV[3], ARGV[4]) keep(bz, ARGV[3], ARGV[4]) end
return 0
