-- ARGV: host, interval_ms, cap
redis.call('SADD', HOSTS, ARGV[1])
redis.call('HSET', hkey(ARGV[1]), 'interval', ARGV[2])
schedule(ARGV[1], tonumber(ARGV[3]))
return 'ok'
