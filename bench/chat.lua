-- wrk script for the gateway benchmark: POST one fixed non-streaming chat request and,
-- when done, print one JSON line with exact latency percentiles (microseconds).
--
--   wrk -t1 -c20 -d10s -s bench/chat.lua http://127.0.0.1:PORT/v1/chat/completions -- MODEL
--
-- The model name (the gateway's route, or the upstream's model for direct calls) is the
-- first script argument; the bench tells direct calls from the gateway's by it. A second
-- argument is sent as the request's `user` (bench_fleet.py's quota phase).

local model = "bench"
local user = ""

function init(args)
   if args[1] ~= nil then
      model = args[1]
   end
   if args[2] ~= nil then  -- the caller's user id: a per-user quota counts it
      user = '"user":"' .. args[2] .. '",'
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"
   wrk.body = '{"model":"' .. model .. '",' .. user .. '"messages":['
      .. '{"role":"system","content":"You are a terse assistant."},'
      .. '{"role":"user","content":"Say something about foxes in five words."}],'
      .. '"max_tokens":16,"temperature":0}'
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,'
         .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max, latency.stdev,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
