local m = redis.call('HMGET', META, 'queued', 'in_flight', 'leased_total', 'accepted', 'completed', 'retried', 'expired')
local out = {}
for i = 1, 7 do out[i] = tostring(num(m[i])) end
out[8] = tostring(redis.call('ZCARD', RZ))
out[9] = tostring(redis.call('SCARD', HOSTS))
out[10] = tostring(redis.call('SCARD', SEEN))
out[11] = redis.call('HGET', META, 'input_closed') and '1' or '0'
out[12] = redis.call('HGET', META, 'finished') and '1' or '0'
return out
