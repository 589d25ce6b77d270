-- ARGV: url hash, host, item, too_deep, max_pages, dedup, cap, interval_ms
if redis.call('HGET', META, 'finished') then return 'closed' end
if ARGV[4] == '1' then return 'deep' end
local dedup, max_pages = ARGV[6] == '1', tonumber(ARGV[5])
if max_pages ~= 0 and num(redis.call('HGET', META, 'accepted')) >= max_pages then
  if dedup and redis.call('SISMEMBER', SEEN, ARGV[1]) == 1 then return 'dup' end
  return 'limit'
end
if dedup and redis.call('SADD', SEEN, ARGV[1]) == 0 then return 'dup' end
local h = ARGV[2]
redis.call('HINCRBY', META, 'accepted', 1)
redis.call('HINCRBY', META, 'queued', 1)
if redis.call('SADD', HOSTS, h) == 1 then redis.call('HSETNX', hkey(h), 'interval', ARGV[8]) end
redis.call('RPUSH', qkey(h), ARGV[3])
schedule(h, tonumber(ARGV[7]))
return 'queued'
