-- ARGV: cap, lease_ms, hosts this process may not lease now (robots gates)...
-- Returns {'lease', id, host, item}, {'finished'} or {'wait', ms until
-- something here may change}.
local cap, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('HGET', META, 'finished') then return {'finished'} end
local now = now_ms()
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LZ, '-inf', now, 'LIMIT', 0, 64)) do
  if requeue(id, cap) then redis.call('HINCRBY', META, 'expired', 1) end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', RZ, '-inf', now, 'LIMIT', 0, 64)) do
  local h, p = redis.call('HGET', RH, id), redis.call('HGET', RP, id)
  redis.call('ZREM', RZ, id)
  redis.call('HDEL', RH, id)
  redis.call('HDEL', RP, id)
  if h then
    redis.call('RPUSH', qkey(h), p)
    redis.call('HINCRBY', META, 'queued', 1)
    schedule(h, cap)
  end
end
local excluded = {}
for i = 3, #ARGV do excluded[ARGV[i]] = true end
local scan = 16 + #ARGV
for _, h in ipairs(redis.call('ZRANGEBYSCORE', READY, '-inf', now, 'LIMIT', 0, scan)) do
  if not excluded[h] then
    local p = redis.call('LPOP', qkey(h))
    if p then
      local id = redis.call('INCR', P .. ':seq')
      redis.call('ZADD', LZ, now + lease_ms, id)
      redis.call('HSET', LH, id, h)
      redis.call('HSET', LP, id, p)
      redis.call('HINCRBY', hkey(h), 'inflight', 1)
      redis.call('HSET', hkey(h), 'last', now)
      redis.call('HINCRBY', META, 'queued', -1)
      redis.call('HINCRBY', META, 'in_flight', 1)
      redis.call('HINCRBY', META, 'leased_total', 1)
      schedule(h, cap)
      return {'lease', tostring(id), h, p}
    end
    schedule(h, cap)
  end
end
if finish_if_done() then return {'finished'} end
local soonest = now + 1000
local r = redis.call('ZRANGE', READY, 0, scan, 'WITHSCORES')
for i = 1, #r, 2 do
  if not excluded[r[i]] then
    soonest = math.min(soonest, tonumber(r[i + 1]))
    break
  end
end
for _, z in ipairs({RZ, LZ}) do
  local t = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if t[2] then soonest = math.min(soonest, tonumber(t[2])) end
end
return {'wait', tostring(math.max(soonest - now, 0))}
