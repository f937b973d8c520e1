--! needs: lib
-- journal_give_back: KEYS journal, then the counters journal_read
-- listed, in its order; ARGV now journal_expire_at -> {0, undone}, or
-- {1} when the journal is not what journal_read saw (read again).
-- Gives back each add whose counter is still live, then marks the
-- journal given back.
local j, now = KEYS[1], ARGV[1]
local e = redis.call('HGET', j, 'e')
local jl = live(e, now)
if jl and redis.call('HGET', j, 's') == 'x' then return {0, 0} end
local n = jl and tonumber(redis.call('HGET', j, 'n') or '0') or 0
if n ~= #KEYS - 1 then return {1} end
local undone = 0
for i = 1, n do
  local k, d = unpack(redis.call('HMGET', j, 'k' .. i, 'd' .. i))
  if k ~= KEYS[i + 1] then return {1} end
  if live(redis.call('HGET', k, 'e'), now) then
    local r = 0
    if d ~= '0' then
      local neg = d:sub(1, 1) == '-' and d:sub(2) or '-' .. d
      r = redis.pcall('HINCRBY', k, 'd', neg)
    end
    if not (type(r) == 'table' and r.err) then undone = undone + 1 end
  end
end
if not jl then e = ARGV[2] end
redis.call('DEL', j)
redis.call('HSET', j, 'e', e, 's', 'x')
keep(j, e, now)
return {0, undone}
