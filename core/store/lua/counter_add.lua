--! needs: lib journal
-- counter_add: KEYS counter [journal]; ARGV delta lo hi expire_at now
-- [journal_expire_at] -> {status, value}
local k = KEYS[1]
local jn, jnew = jopen(KEYS[2], ARGV[5])
if jn < 0 then return {-jn, '0'} end
local fresh = not live(redis.call('HGET', k, 'e'), ARGV[5])
local cur = '0'
if fresh then redis.call('DEL', k)
else cur = redis.call('HGET', k, 'd') or '0' end
local r = redis.pcall('HINCRBY', k, 'd', ARGV[1])
local nxt = nil
if type(r) == 'table' and r.err then
  if not string.find(r.err, 'overflow', 1, true) then
    if fresh then redis.call('DEL', k) end
    return redis.error_reply(r.err)
  end
else nxt = redis.call('HGET', k, 'd') end
if nxt == nil or cmp(nxt, ARGV[2]) < 0 or cmp(nxt, ARGV[3]) > 0 then
  if fresh then redis.call('DEL', k)
  else redis.call('HSET', k, 'd', cur) end
  return {1, cur}
end
if fresh then
  redis.call('HSET', k, 'e', ARGV[4])
  keep(k, ARGV[4], ARGV[5])
end
if KEYS[2] then
  local j = KEYS[2]
  jn = jn + 1
  if jnew then
    redis.call('HSET', j, 'e', ARGV[6], 's', 'o', 'n', jn, 'k1', k,
               'd1', ARGV[1])
    keep(j, ARGV[6], ARGV[5])
  else
    redis.call('HSET', j, 'n', jn, 'k' .. jn, k, 'd' .. jn, ARGV[1])
  end
end
return {0, nxt}
