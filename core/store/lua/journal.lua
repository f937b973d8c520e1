-- For the scripts that name a journal as KEYS[2] (see Journals at the
-- top of store_redis.c).  jopen: the journal's entry count when it is
-- live and open, 0 when absent or expired (an expired one is removed: a
-- write starts it anew), -3 when closed, -4 when full; 0 when no journal
-- is named.  Its second result: the journal is to be made (absent or
-- expired).  @NAME@ is the C constant NAME.
local function jopen(j, now)
  if not j then return 0, false end
  local e, s, n = unpack(redis.call('HMGET', j, 'e', 's', 'n'))
  if not live(e, now) then
    if e then redis.call('DEL', j) end
    return 0, true
  end
  if s ~= 'o' then return -3, false end
  n = tonumber(n or '0')
  if n >= @STORE_JOURNAL_MAX@ then return -4, false end
  return n, false
end
