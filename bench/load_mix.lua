-- wrk script for bench/load_bench.py: a mix of cached variant URLs and cold (never rendered) signed URLs.
--
--   wrk ... -s bench/load_mix.lua URL -- CACHED_FILE COLD_FILE COLD_SHARE
--
-- CACHED_FILE holds one path a line; COLD_FILE holds "path<TAB>client address" lines ("-" for none).
-- Cached requests come from random visitor addresses, cold ones from the address on their line, both in
-- X-Forwarded-For (the server trusts one proxy). Every response's status is tallied, and a 429 or 503
-- without a numeric Retry-After is counted; done() prints machine-readable lines that start with "LOAD ".

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_index", #threads)
end

local function read_lines(path)
   local lines = {}
   if path == nil or path == "" or path == "-" then
      return lines
   end
   for line in io.lines(path) do
      if line ~= "" then
         lines[#lines + 1] = line
      end
   end
   return lines
end

function init(args)
   cached = read_lines(args[1])
   cold = {}
   for _, line in ipairs(read_lines(args[2])) do
      local path, client = line:match("^(%S+)\t(%S+)$")
      cold[#cold + 1] = { path = path, client = client }
   end
   cold_share = tonumber(args[3] or "0")
   thread_total = tonumber(args[4] or "1")
   -- Each thread walks its own stride of the cold list, so no two threads ask for the same new variant.
   cold_next = thread_index
   cold_sent = 0
   statuses = {}
   missing_retry_after = 0
   math.randomseed(thread_index * 7919)
end

function request()
   if #cold > 0 and math.random() < cold_share then
      local entry = cold[cold_next]
      cold_next = cold_next + thread_total
      if cold_next > #cold then
         cold_next = thread_index
      end
      cold_sent = cold_sent + 1
      return wrk.format("GET", entry.path, { ["X-Forwarded-For"] = entry.client })
   end
   local visitor = string.format("198.18.%d.%d", math.random(0, 255), math.random(1, 254))
   return wrk.format("GET", cached[math.random(#cached)], { ["X-Forwarded-For"] = visitor })
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 429 or status == 503 then
      local retry_after = headers["Retry-After"] or headers["retry-after"]
      if retry_after == nil or tonumber(retry_after) == nil then
         missing_retry_after = missing_retry_after + 1
      end
   end
end

function done(summary, latency, requests)
   local totals, missing, cold_total = {}, 0, 0
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         totals[status] = (totals[status] or 0) + count
      end
      missing = missing + thread:get("missing_retry_after")
      cold_total = cold_total + thread:get("cold_sent")
   end
   local parts = {}
   for status, count in pairs(totals) do
      parts[#parts + 1] = string.format("%d=%d", status, count)
   end
   table.sort(parts)
   io.write("LOAD statuses " .. table.concat(parts, " ") .. "\n")
   io.write(string.format("LOAD missing_retry_after %d\n", missing))
   io.write(string.format("LOAD cold_sent %d\n", cold_total))
   io.write(string.format(
      "LOAD summary requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.timeout))
   io.write(string.format(
      "LOAD latency_us p50=%.0f p90=%.0f p99=%.0f max=%.0f\n",
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
