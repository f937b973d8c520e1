--! needs: lib
-- tag_del: ARGV now -> status (an expired tag goes too, unseen)
local l = live(redis.call('HGET', KEYS[1], 'e'), ARGV[1])
redis.call('DEL', KEYS[1])
if l then return 0 end
return 2
