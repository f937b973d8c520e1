--! needs: lib
-- journal_close: ARGV now journal_expire_at -> 0.  Closes (an open
-- one keeps its entries for a give back).
local j, now = KEYS[1], ARGV[1]
if live(redis.call('HGET', j, 'e'), now) then
  if redis.call('HGET', j, 's') == 'o' then
    redis.call('HSET', j, 's', 'f') end
  return 0
end
redis.call('DEL', j)
redis.call('HSET', j, 'e', ARGV[2], 's', 'f')
keep(j, ARGV[2], now)
return 0
