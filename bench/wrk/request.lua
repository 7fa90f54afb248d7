-- One wrk script for every scenario, driven by the environment:
--   BENCH_METHOD      GET or POST
--   BENCH_TOKEN       the bearer token
--   BENCH_BODY_FILE   POST: the JSON body, sent on every request
--   BENCH_PATHS_FILE  GET: one path per line, taken round-robin from a random start
--   BENCH_SIGNED_FILE POST: one signed request per line, `path TAB signature TAB body`, each
--                     sent once in turn (X-Webhook-Signature); prepared as many as a run takes
--   BENCH_RESULT      where done() writes the run's numbers as one JSON object

local function read_file(name)
  local file = assert(io.open(name, "r"))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  wrk.body = read_file(body_file)
  wrk.headers["Content-Type"] = "application/json"
end

local paths_file = os.getenv("BENCH_PATHS_FILE")
if paths_file and paths_file ~= "" then
  local paths = {}
  for line in io.lines(paths_file) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  local next_index = 1

  function init(args)
    math.randomseed(os.time() + #paths)
    next_index = math.random(#paths)
  end

  -- Pre-format every request once; request() only picks the next one.
  local requests = {}
  function request()
    local path = paths[next_index]
    local formatted = requests[next_index]
    if formatted == nil then
      formatted = wrk.format(nil, path)
      requests[next_index] = formatted
    end
    next_index = next_index % #paths + 1
    return formatted
  end
end

local signed_file = os.getenv("BENCH_SIGNED_FILE")
if signed_file and signed_file ~= "" then
  local signed = {}
  for line in io.lines(signed_file) do
    local path, signature, body = string.match(line, "^([^\t]*)\t([^\t]*)\t(.*)$")
    if path then signed[#signed + 1] = {path, signature, body} end
  end
  local next_index = 0
  -- Formatted when sent: wrk.host is known by then.
  function request()
    next_index = next_index % #signed + 1
    local path, signature, body = (table.unpack or unpack)(signed[next_index])
    return wrk.format("POST", path, {
      ["Host"] = wrk.host,
      ["Authorization"] = wrk.headers["Authorization"],
      ["Content-Type"] = "application/json",
      ["X-Webhook-Signature"] = signature,
    }, body)
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local out = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.connect, errors.read, errors.write, errors.status, errors.timeout))
  out:close()
end
