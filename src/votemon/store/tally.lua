-- Counts one batch of one partition, atomically, and records how far that partition was counted.
-- KEYS: 1 offsets hash, 2 total, 3 by-band hash, 4 by-album hash, 5 per-second hash
-- ARGV: 1 partition field, 2 next offset after this batch, 3 seen-key prefix, 4 dedup TTL (s),
--       then per vote: offset, id, band, album field, epoch second
-- Returns the number of votes counted. A record below the stored offset was counted before
-- (a replay after a crash or a rebalance) and is skipped; a vote id seen before is skipped too.
local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local counted = 0
for i = 5, #ARGV, 5 do
  if tonumber(ARGV[i]) >= stored
      and redis.call('SET', ARGV[3] .. ARGV[i + 1], '1', 'NX', 'EX', ARGV[4]) then
    redis.call('HINCRBY', KEYS[3], ARGV[i + 2], 1)
    redis.call('HINCRBY', KEYS[4], ARGV[i + 3], 1)
    redis.call('HINCRBY', KEYS[5], ARGV[i + 4], 1)
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call('INCRBY', KEYS[2], counted)
end
if tonumber(ARGV[2]) > stored then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return counted
