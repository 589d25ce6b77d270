local P = KEYS[1]
local META, READY, SEEN, HOSTS = P .. ':meta', P .. ':ready', P .. ':seen', P .. ':hosts'
local LZ, LH, LP = P .. ':lz', P .. ':lh', P .. ':lp'
local RZ, RH, RP = P .. ':rz', P .. ':rh', P .. ':rp'
local function num(v) if v then return tonumber(v) or 0 end return 0 end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function hkey(h) return P .. ':h:' .. h end
local function qkey(h) return P .. ':q:' .. h end
-- The ready set holds exactly the hosts with queued pages and a free slot,
-- scored by the first time they may start a request.
local function schedule(h, cap)
  local f = redis.call('HMGET', hkey(h), 'inflight', 'interval', 'last', 'backoff')
  if redis.call('LLEN', qkey(h)) > 0 and (cap == 0 or num(f[1]) < cap) then
    local at = num(f[4])
    if f[3] then at = math.max(at, num(f[3]) + num(f[2])) end
    redis.call('ZADD', READY, at, h)
  else
    redis.call('ZREM', READY, h)
  end
end
local function drop_lease(id)
  local h = redis.call('HGET', LH, id)
  if not h then return nil, nil end
  local p = redis.call('HGET', LP, id)
  redis.call('ZREM', LZ, id)
  redis.call('HDEL', LH, id)
  redis.call('HDEL', LP, id)
  redis.call('HINCRBY', hkey(h), 'inflight', -1)
  redis.call('HINCRBY', META, 'in_flight', -1)
  return h, p
end
local function requeue(id, cap)
  local h, p = drop_lease(id)
  if not h then return false end
  redis.call('LPUSH', qkey(h), p)
  redis.call('HINCRBY', META, 'queued', 1)
  schedule(h, cap)
  return true
end
local function finish_if_done()
  local m = redis.call('HMGET', META, 'input_closed', 'queued', 'in_flight', 'finished')
  if m[4] then return true end
  if m[1] and num(m[2]) == 0 and num(m[3]) == 0 and redis.call('ZCARD', RZ) == 0 then
    redis.call('HSET', META, 'finished', '1')
    return true
  end
  return false
end
