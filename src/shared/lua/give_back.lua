-- ARGV: lease id, cap. The item goes back to the front of its host's queue.
if requeue(ARGV[1], tonumber(ARGV[2])) then return 'ok' end
return 'stale'
