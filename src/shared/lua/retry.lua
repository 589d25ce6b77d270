-- ARGV: lease id, cap, delay_ms, item with attempt + 1
local h = drop_lease(ARGV[1])
if not h then return 'stale' end
local rid = redis.call('INCR', P .. ':seq')
redis.call('ZADD', RZ, now_ms() + tonumber(ARGV[3]), rid)
redis.call('HSET', RH, rid, h)
redis.call('HSET', RP, rid, ARGV[4])
redis.call('HINCRBY', META, 'retried', 1)
schedule(h, tonumber(ARGV[2]))
return 'ok'
