--! needs: lib
-- tag_set: ARGV bytes expire_at now -> status
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'e', ARGV[2])
keep(KEYS[1], ARGV[2], ARGV[3])
return 0
