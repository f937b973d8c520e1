--! needs: lib
-- read_many: KEYS counters, tags and values (c:, t:, v: records, one
-- slot); ARGV now -> two elements per key: its d (bytes, a counter's
-- decimal) and n (a value's version), both nil when absent or expired.
-- One HMGET per key.
local now, out = ARGV[1], {}
for i, k in ipairs(KEYS) do
  local e, d, n = unpack(redis.call('HMGET', k, 'e', 'd', 'n'))
  if live(e, now) then out[2 * i - 1], out[2 * i] = d, n
  else out[2 * i - 1], out[2 * i] = false, false end
end
return out
