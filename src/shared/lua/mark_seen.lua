-- ARGV: url hash
if redis.call('SADD', SEEN, ARGV[1]) == 1 then redis.call('HINCRBY', META, 'accepted', 1) end
return 'ok'
