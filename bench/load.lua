-- wrk script of bench/load.py: replays a pool of pre-signed Twilio webhook requests.
--
--   wrk -t2 -c64 -d10s --timeout 15s -s bench/load.lua http://127.0.0.1:PORT -- POOL_FILE
--
-- POOL_FILE (written by load.py) has one request a line, tab-separated:
--   thread  method  path+query  form body (urlencoded)  X-Twilio-Signature
-- Thread n sends the lines of thread n, in file order; load.py ordered them so that the steps
-- of a call are far apart (see load.py). A thread that reaches the end of its lines starts
-- again from the first (reported as `wrapped`: repeats of calls already sent).
-- done() prints one line `LOAD_JSON {...}`: wrk's counts and latency percentiles, and per
-- thread how many requests it issued and how many answers were 2xx or not.

local threads = {}
local count = 0

function setup(thread)
   thread:set("id", count)
   count = count + 1
   table.insert(threads, thread)
end

function init(args)
   pool = {}
   size = 0
   issued = 0
   ok = 0
   non2xx = 0
   for line in io.lines(args[1]) do
      local thread, method, path, body, signature =
         line:match("^(%d+)\t(%u+)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
      if thread == nil then
         error("not a pool line: " .. line)
      end
      if tonumber(thread) == id then
         size = size + 1
         pool[size] = wrk.format(method, path, {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["X-Twilio-Signature"] = signature,
         }, body)
      end
   end
   if size == 0 then
      error("no requests for thread " .. id .. " in " .. args[1])
   end
end

function request()
   local request = pool[issued % size + 1]
   issued = issued + 1
   return request
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local per_thread = {}
   for _, thread in ipairs(threads) do
      table.insert(per_thread, string.format(
         '{"id":%d,"size":%d,"issued":%d,"ok":%d,"non2xx":%d}',
         thread:get("id"), thread:get("size"), thread:get("issued"), thread:get("ok"), thread:get("non2xx")))
   end
   local errors = summary.errors
   io.write(string.format(
      'LOAD_JSON {"duration_us":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,'
         .. '"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"threads":[%s]}\n',
      summary.duration, summary.requests, errors.connect, errors.read, errors.write, errors.status,
      errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, table.concat(per_thread, ",")))
end
