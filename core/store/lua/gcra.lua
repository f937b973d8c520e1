-- gcra: KEYS[1] a rate bucket (an R: record, a string: its theoretical
-- arrival time TAT in microseconds, decimal); ARGV now, t, tau in
-- microseconds -> {1, TAT} when the attempt conforms (and is counted),
-- {0, TAT} when it does not (nothing written): store.h, Rate limits.
-- Lua's doubles hold microseconds exactly up to 2^53 (the year 2255).
-- A bucket whose TAT has passed is as good as absent, so the record
-- lives until then (plus a margin, on Redis' clock) and no longer.
local now, t, tau = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if tat - now > tau then return {0, string.format('%.0f', tat)} end
tat = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',
  string.format('%.0f', math.floor((tat - now) / 1000) + @RD_RATE_MARGIN_MS@))
return {1, string.format('%.0f', tat)}
