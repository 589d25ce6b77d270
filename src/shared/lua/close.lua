redis.call('HSET', META, 'input_closed', '1')
if finish_if_done() then return 'finished' end
return 'ok'
