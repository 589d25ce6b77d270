-- ARGV: lease_ms, lease ids... Renews only leases that still exist.
local expiry = now_ms() + tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', LZ, ARGV[i]) then
    redis.call('ZADD', LZ, expiry, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
