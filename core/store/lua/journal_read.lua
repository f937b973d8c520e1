--! needs: lib
-- journal_read: ARGV now -> {0} absent, {1} given back, or {2, k1,
-- d1, ..} (an open or closed journal's counter keys and deltas, oldest
-- first)
local j = KEYS[1]
if not live(redis.call('HGET', j, 'e'), ARGV[1]) then return {0} end
if redis.call('HGET', j, 's') == 'x' then return {1} end
local out = {2}
for i = 1, tonumber(redis.call('HGET', j, 'n') or '0') do
  local k, d = unpack(redis.call('HMGET', j, 'k' .. i, 'd' .. i))
  out[#out + 1] = k
  out[#out + 1] = d
end
return out
