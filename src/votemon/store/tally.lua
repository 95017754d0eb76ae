-- Counts one batch of one partition, atomically, and records how far that partition was counted.
-- KEYS: 1 offsets hash, 2 total, 3 by-band hash, 4 by-album hash, 5 per-second hash
-- ARGV: 1 partition field, 2 first offset of this batch, 3 next offset after it,
--       4 seen-key prefix, 5 dedup TTL (s),
--       6 the votes as a JSON array of [offset, id, band, album field, epoch second]
-- Returns {counted, -1} normally. A record below the stored offset was counted before (a replay
-- after a crash or a rebalance) and is skipped; a vote id seen before is skipped too.
-- Returns {0, stored} and changes nothing when the stored offset is below this batch's first
-- offset: Redis lost recent writes (a crash between fsyncs), so the caller must seek back there.
local stored_text = redis.call('HGET', KEYS[1], ARGV[1])
local stored = tonumber(stored_text or '0')
if stored_text and stored < tonumber(ARGV[2]) then
  return {0, stored}
end
local counted = 0
for _, vote in ipairs(cjson.decode(ARGV[6])) do
  if vote[1] >= stored and redis.call('SET', ARGV[4] .. vote[2], '1', 'NX', 'EX', ARGV[5]) then
    redis.call('HINCRBY', KEYS[3], vote[3], 1)
    redis.call('HINCRBY', KEYS[4], vote[4], 1)
    redis.call('HINCRBY', KEYS[5], tostring(vote[5]), 1)
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call('INCRBY', KEYS[2], counted)
end
if tonumber(ARGV[3]) > stored then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {counted, -1}
