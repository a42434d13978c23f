-- post.lua — wrk script for bench/run.sh: POSTs one realistic ~1 KB chat request
-- (bench/chat_request.json: a voice agent's system prompt and a few turns) over keep-alive connections.
--
-- Environment:
--   BENCH_BODY_FILE the request body (default bench/chat_request.json)
--   BENCH_MODE      which client is talking, so the same body gets the right envelope:
--                   direct     plain OpenAI request (model "gpt-4o-mini", bearer key) —
--                              the upstream itself, or the nginx hop in front of it
--                   llmux      model "openai/gpt-4o-mini", X-Llmux-Session (OpenAI out)
--                   llmux-anthropic
--                              model "anthropic/claude-haiku-4-5" (Anthropic out,
--                              translation on)
--                   portkey    Portkey headers: provider openai + custom host
--                   portkey-anthropic
--                              Portkey headers: provider anthropic + custom host
--   BENCH_HOST      Portkey's x-portkey-custom-host (the upstream's base URL)
--   BENCH_DELAY_MS  when set, each connection waits this long between requests (a fixed
--                   low rate for latency; wrk starts the clock after the wait)
--
-- done() prints one machine-readable line that run.sh parses:
--   RESULT requests=N seconds=S rps=R p50_us=A p90_us=B p99_us=C errors=E non2xx=F
-- (non2xx is wrk's count of answers with a status >= 400; no response() callback, which
-- would cost wrk a Lua call per answer)

local mode = os.getenv("BENCH_MODE") or "direct"
local host = os.getenv("BENCH_HOST") or ""

-- The body: bench/chat_request.json (BENCH_BODY_FILE), with its model replaced.
local body_file = os.getenv("BENCH_BODY_FILE") or "bench/chat_request.json"
local f = assert(io.open(body_file, "rb"))
local template = f:read("*a"):gsub("%s+$", "")
f:close()

local function body(model)
  local b, n = template:gsub('"model":"[^"]*"', '"model":"' .. model .. '"', 1)
  assert(n == 1, "post.lua: no model in " .. body_file)
  return b
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

if mode == "direct" then
  wrk.headers["Authorization"] = "Bearer sk-bench-direct"
  wrk.body = body("gpt-4o-mini")
elseif mode == "llmux" then
  wrk.headers["X-Llmux-Session"] = "bench"
  wrk.body = body("openai/gpt-4o-mini")
elseif mode == "llmux-anthropic" then
  wrk.headers["X-Llmux-Session"] = "bench"
  wrk.body = body("anthropic/claude-haiku-4-5")
elseif mode == "portkey" then
  wrk.headers["x-portkey-provider"] = "openai"
  wrk.headers["x-portkey-custom-host"] = host
  wrk.headers["Authorization"] = "Bearer sk-bench-peer"
  wrk.body = body("gpt-4o-mini")
elseif mode == "portkey-anthropic" then
  wrk.headers["x-portkey-provider"] = "anthropic"
  wrk.headers["x-portkey-custom-host"] = host
  wrk.headers["x-api-key"] = "sk-ant-bench-peer"
  wrk.headers["Authorization"] = "Bearer sk-ant-bench-peer"
  wrk.body = body("claude-haiku-4-5")
else
  error("post.lua: unknown BENCH_MODE " .. mode)
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
