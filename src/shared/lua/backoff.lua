-- ARGV: host, backoff_ms, cap. Never shortens an earlier backoff.
local h = ARGV[1]
local untl = now_ms() + tonumber(ARGV[2])
redis.call('SADD', HOSTS, h)
if untl > num(redis.call('HGET', hkey(h), 'backoff')) then redis.call('HSET', hkey(h), 'backoff', untl) end
schedule(h, tonumber(ARGV[3]))
return 'ok'
