-- Shared by every script.  cmp: exact order of two canonical decimal
-- int64 strings.  live: a record with expiry e is live at now.  keep:
-- give key k the Redis TTL of a record expiring at e (see the top of
-- store_redis.c).
local function cmp(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na and -1 or 1 end
  local r = 0
  if #a ~= #b then r = #a < #b and -1 or 1
  elseif a ~= b then r = a < b and -1 or 1 end
  if na then r = -r end
  return r
end
local function live(e, now)
  return e ~= false and e ~= nil and (e == '0' or cmp(e, now) > 0)
end
local function keep(k, e, now)
  if e == '0' then redis.call('PERSIST', k) return end
  local d = tonumber(e) - tonumber(now)
  if d < 0 then d = 0 end
  if d > 1e15 then redis.call('PERSIST', k) return end
  redis.call('PEXPIRE', k, string.format('%.0f', d + 86400000))
end
