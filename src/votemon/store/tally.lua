-- Counts one batch of one partition, atomically, and records how far that partition was counted.
-- KEYS: 1 offsets hash, 2 total, 3 by-band hash, 4 by-album hash, 5 per-second hash,
--       6 latest sorted set (the newest votes, for the results page),
--       7 band ranking, 8 album ranking (sorted sets of the same counts, for the top N)
-- ARGV: 1 partition field, 2 first offset of this batch, 3 next offset after it,
--       4 seen-key prefix, 5 dedupe window (s), 6 dedupe bucket width (s), 7 latest size,
--       8 the votes as a JSON array of
--         [offset, id, band, album field, epoch second, latest score (epoch µs), latest entry (JSON)]
-- Returns {counted, -1} normally. A record below the stored offset was counted before (a replay
-- after a crash or a rebalance) and is skipped; a vote id counted in the last dedupe window is
-- skipped too. Returns {0, stored} and changes nothing when the stored offset is below this
-- batch's first offset: Redis lost recent writes (a crash between fsyncs), so the caller must
-- seek back there.
--
-- Dedupe memory is bounded by construction: the ids counted during [i*w, (i+1)*w) of Redis' clock
-- go into one set, <prefix><i>, which expires whole at (i+1)*w + window. A vote is looked up in
-- every set that can hold an id counted in the last `window` seconds, so any id counted less than
-- `window` ago is found; at most (window + w) seconds of ids are ever kept.
local stored_text = redis.call('HGET', KEYS[1], ARGV[1])
local stored = tonumber(stored_text or '0')
if stored_text and stored < tonumber(ARGV[2]) then
  return {0, stored}
end
local window = tonumber(ARGV[5])
local width = tonumber(ARGV[6])
local now = tonumber(redis.call('TIME')[1])
local current = math.floor(now / width)
local buckets = {}
for i = current, current - math.ceil(window / width), -1 do
  buckets[#buckets + 1] = ARGV[4] .. i
end
local function seen(id)
  for _, bucket in ipairs(buckets) do
    if redis.call('SISMEMBER', bucket, id) == 1 then
      return true
    end
  end
  return false
end
local counted = 0
for _, vote in ipairs(cjson.decode(ARGV[8])) do
  if vote[1] >= stored and not seen(vote[2]) then
    redis.call('SADD', buckets[1], vote[2])
    redis.call('HINCRBY', KEYS[3], vote[3], 1)
    redis.call('HINCRBY', KEYS[4], vote[4], 1)
    redis.call('ZINCRBY', KEYS[7], 1, vote[3])
    redis.call('ZINCRBY', KEYS[8], 1, vote[4])
    redis.call('HINCRBY', KEYS[5], tostring(vote[5]), 1)
    redis.call('ZADD', KEYS[6], vote[6], vote[7])
    counted = counted + 1
  end
end
if counted > 0 then
  redis.call('INCRBY', KEYS[2], counted)
  redis.call('EXPIREAT', buckets[1], (current + 1) * width + window)
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, -(tonumber(ARGV[7]) + 1))
end
if tonumber(ARGV[3]) > stored then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {counted, -1}
