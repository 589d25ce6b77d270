-- ARGV: lease id, cap
local h = drop_lease(ARGV[1])
if not h then return 'stale' end
redis.call('HINCRBY', META, 'completed', 1)
schedule(h, tonumber(ARGV[2]))
if finish_if_done() then return 'finished' end
return 'ok'
