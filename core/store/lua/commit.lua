--! needs: lib
-- commit: one write set (store.h: Write sets), all of it or nothing.
-- KEYS: the set's distinct keys.  ARGV: now, then the ops in order, each
-- a kind letter and its fields (ki, kz: indexes into KEYS):
--   A ki delta lo hi expire_at expect    counter add (expect '' unless
--                                        EXACT)
--   C ki version bytes expire_at         value cas (version 0: absent)
--   T ki bytes expire_at                 tag set
--   D ki                                 tag del
--   L ki bytes expire_at                 list append
--   B ki kz member orderkey expire_at    board set (ki bm, kz bz)
-- -> {0} applied; {1, at, fresh}: op at (0-based) did not validate
-- (fresh: the value or version it found), nothing written; {2, at}: the
-- key of op at holds another kind of value, nothing written.
--
-- Pass 1 reads each key once, checking the type of every key pass 2
-- will write, and validates the ops in order against a running view of
-- what the ops before them left; it writes nothing.  Pass 2 writes the
-- view.  Redis does not undo a script that fails halfway, so pass 2
-- runs only commands that cannot fail on keys of the right type: the
-- refusals left (OOM, READONLY, NOREPLICAS, MISCONF) come at a script's
-- first write, before anything changed.  Redis' Lua has only doubles:
-- sums are exact in 9-digit limbs (add), versions grow as decimal
-- strings (inc), so pass 2 writes the results with HSET.
local now = ARGV[1]
local NF = {A = 7, C = 5, T = 4, D = 2, L = 4, B = 6}

-- A canonical decimal int64, as HINCRBY leaves them.
local function int64(s)
  if s == '0' then return true end
  if not s:match('^%-?[1-9]%d*$') then return false end
  local m = s:sub(1, 1) == '-' and s:sub(2) or s
  return #m < 19 or (#m == 19 and m <= (s == m and '9223372036854775807'
                                        or '9223372036854775808'))
end
-- |s| = h * 1e9 + l, and its sign.
local function split(s)
  local neg = s:sub(1, 1) == '-'
  if neg then s = s:sub(2) end
  local n = #s
  if n <= 9 then return neg, 0, tonumber(s) end
  return neg, tonumber(s:sub(1, n - 9)), tonumber(s:sub(n - 8))
end
-- The exact sum of two canonical decimal int64s, nil when it overflows.
local function add(a, b)
  local na, ha, la = split(a)
  local nb, hb, lb = split(b)
  local neg, h, l = na, 0, 0
  if na == nb then
    h, l = ha + hb, la + lb
    if l >= 1e9 then h, l = h + 1, l - 1e9 end
  else
    if ha < hb or (ha == hb and la < lb) then
      neg, ha, la, hb, lb = nb, hb, lb, ha, la
    end
    h, l = ha - hb, la - lb
    if l < 0 then h, l = h - 1, l + 1e9 end
  end
  if h > 9223372036 or
     (h == 9223372036 and l > (neg and 854775808 or 854775807)) then
    return nil
  end
  if h == 0 and l == 0 then return '0' end
  local s = h > 0 and string.format('%.0f%09.0f', h, l)
            or string.format('%.0f', l)
  return neg and '-' .. s or s
end
-- A version (decimal) plus one.
local function inc(v)
  local i = #v
  while i > 0 and v:byte(i) == 57 do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #v) end
  return v:sub(1, i - 1) .. string.char(v:byte(i) + 1) ..
         string.rep('0', #v - i)
end
-- keep(), skipped when it would only PERSIST a key made just now.
local function expire(k, e, new)
  if e ~= '0' or not new then keep(k, e, now) end
end
local function rpush(k, items)
  for i = 1, #items, 1000 do
    redis.call('RPUSH', k, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- The ops, and what each key needs read.
local ops, ks = {}, {}
local i = 2
while i <= #ARGV do
  local o = ARGV[i]
  if not NF[o] then return redis.error_reply('commit: bad op kind') end
  ops[#ops + 1] = i
  local ki = tonumber(ARGV[i + 1])
  local s = ks[ki]
  if not s then
    s = {at = #ops - 1, f = o == 'D' and 'T' or o}
    ks[ki] = s
  end
  if o == 'T' then s.read = true
  elseif o == 'B' then
    s.kz = tonumber(ARGV[i + 2])
    s.m = s.m or {}
    s.m[#s.m + 1] = ARGV[i + 3]
  end
  i = i + NF[o]
end

-- Pass 1a: read (s.new: the key is not there at all).
for ki, s in pairs(ks) do
  local k, f = KEYS[ki], s.f
  if f == 'A' or f == 'C' then
    local r = redis.pcall('HMGET', k, 'e', f == 'A' and 'd' or 'n')
    if r.err then return {2, s.at} end
    s.new = not r[1] and not r[2]
    s.live = live(r[1], now)
    if f == 'A' then
      s.v = s.live and (r[2] or '0') or '0'
      if not int64(s.v) then return {2, s.at} end
    else
      s.n = r[2]
    end
  elseif f == 'T' then
    if s.read then
      local t = redis.call('TYPE', k).ok
      if t ~= 'hash' and t ~= 'none' then return {2, s.at} end
      s.new = t == 'none'
    end
  elseif f == 'L' then
    local r = redis.pcall('LINDEX', k, 0)
    if type(r) == 'table' and r.err then return {2, s.at} end
    s.new = not r
    s.live = live(r, now)
  else
    local r = redis.pcall('HMGET', k, '', unpack(s.m))
    if r.err then return {2, s.at} end
    s.live = live(r[1], now)
    s.old = {}
    if s.live then
      for j, m in ipairs(s.m) do s.old[m] = r[j + 1] end
      local t = redis.call('TYPE', KEYS[s.kz]).ok
      if t ~= 'zset' and t ~= 'none' then return {2, s.at} end
    end
  end
end

-- Pass 1b: validate in order; s.make: the expiry of a record the set
-- creates.
local seed
for j, p in ipairs(ops) do
  local o, s = ARGV[p], ks[tonumber(ARGV[p + 1])]
  if o == 'A' then
    local f, x = s.v, ARGV[p + 6]
    local v = add(f, ARGV[p + 2])
    if (x ~= '' and f ~= x) or not v or cmp(v, ARGV[p + 3]) < 0 or
       cmp(v, ARGV[p + 4]) > 0 then
      return {1, j - 1, f}
    end
    s.v = v
    if not s.live then s.live, s.make = true, ARGV[p + 5] end
  elseif o == 'C' then
    local v = s.live and (s.n or '0') or '0'
    if v ~= ARGV[p + 2] then return {1, j - 1, v} end
    if s.n then s.n = inc(s.n)
    else
      if not seed then
        local t = redis.call('TIME')
        seed = t[1] .. string.format('%06d', tonumber(t[2]))
      end
      s.n = seed
    end
    s.live, s.d, s.e = true, ARGV[p + 3], ARGV[p + 4]
  elseif o == 'T' then s.tag = p
  elseif o == 'D' then s.tag = 0
  elseif o == 'L' then
    s.items = s.items or {}
    s.items[#s.items + 1] = ARGV[p + 2]
    if not s.live then s.live, s.make = true, ARGV[p + 3] end
  else
    s.ops = s.ops or {}
    s.ops[#s.ops + 1] = p
    if not s.live then s.live, s.make = true, ARGV[p + 5] end
  end
end

-- Pass 2: write.
for ki = 1, #KEYS do
  local s, k = ks[ki], KEYS[ki]
  local f = s and s.f
  if f == 'A' then
    if s.make then
      redis.call('HSET', k, 'd', s.v, 'e', s.make)
      expire(k, s.make, s.new)
    else
      redis.call('HSET', k, 'd', s.v)
    end
  elseif f == 'C' then
    redis.call('HSET', k, 'n', s.n, 'd', s.d, 'e', s.e)
    expire(k, s.e, s.new)
  elseif f == 'T' then
    if s.tag == 0 then redis.call('DEL', k)
    else
      local e = ARGV[s.tag + 3]
      redis.call('HSET', k, 'd', ARGV[s.tag + 2], 'e', e)
      expire(k, e, s.new)
    end
  elseif f == 'L' then
    if s.make then
      if not s.new then redis.call('DEL', k) end
      table.insert(s.items, 1, s.make)
      rpush(k, s.items)
      expire(k, s.make, true)
    else
      rpush(k, s.items)
    end
  elseif f == 'B' then
    local bz = KEYS[s.kz]
    if s.make then
      redis.call('UNLINK', k, bz)
      redis.call('HSET', k, '', s.make)
    end
    for _, p in ipairs(s.ops) do
      local m, o = ARGV[p + 3], ARGV[p + 4]
      local old = s.old[m]
      if not (old and old:sub(1, 8) == o:sub(1, 8)) then
        if old then redis.call('ZREM', bz, old) end
        redis.call('HSET', k, m, o)
        redis.call('ZADD', bz, 0, o)
        s.old[m] = o
      end
    end
    if s.make then keep(k, s.make, now) keep(bz, s.make, now) end
  end
end
return {0}
