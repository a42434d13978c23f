#!/usr/bin/env python3
"""Soak test: the llmux proxy under mixed load against the mock, then SIGTERM during load.

Starts `llmux mock` and `llmux serve` on loopback (free ports), configures the four
providers with managed keys pointed at the mock, scripts the mock's faults by model name,
and runs client threads for a bounded time. Every request has an expected outcome:

  chat_<p> / stream_<p>      200 from provider p (a stream ends with data: [DONE])
  stream_sentences           anthropic stream, chunk_by_sentence + clean_sentences, [DONE]
  retry_then_fallback        openai 429 twice (1 retry), then anthropic answers: 200, 3 attempts
  all_fail                   google 503, retries off: 502 all_providers_failed
  stream_cut                 openai stream dropped after 3 chunks: stream_interrupted event, no [DONE]
  stream_early_fallback      anthropic stream dropped before content, falls back to google: [DONE]
  timeout_fallback           openai hangs, timeout 0.3 s, falls back to azure: 200
  malformed                  anthropic 200 with a broken body, retries off: 502
  invalid                    api_key in the body: 400 invalid_request
  not_configured             a session with no providers: 400 provider_not_configured
  client_abort               a stream whose client hangs up after the first chunk
  healthz / metrics          200

Anything else -- another status or body, a connection error, a stream without its end --
is an unexplained error. The proxy's VmRSS is sampled every few seconds; after warm-up it
must stay flat. Then, with load still running, slow streams are opened, SIGTERM is sent
once each has its first chunk: every stream that had started must end with [DONE], the
proxy must exit 0. Requests that had no response yet when SIGTERM came may be refused.

Usage: tests/soak/soak.py [--short] [--duration S] [--clients N] [--bin PATH] [--json FILE]
Exit status 0 when every check passed. Loopback only; every process started is stopped.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SESSION = "soak"
PROVIDERS = ["openai", "anthropic", "google", "azure"]
MAX_COUNT = 1000000  # the mock's largest step count


# ---- processes --------------------------------------------------------------------------


def start(argv, env=None, timeout=10.0, stderr_file=None):
    """Starts argv, waits for its first stdout line 'listening HOST:PORT'; returns (proc, port).
    The child's stderr goes to stderr_file (a path) or is drained and dropped."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    err = open(stderr_file, "wb") if stderr_file else subprocess.PIPE
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=err, env=full_env)
    if stderr_file:
        err.close()
    deadline = time.time() + timeout
    line = b""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line or proc.poll() is not None:
            break
    if not line.startswith(b"listening"):
        proc.kill()
        proc.wait()
        raise RuntimeError("%s did not start: %r" % (argv[:2], line))
    # keep draining the pipes so that the child never blocks on a full pipe
    for stream in [proc.stdout] + ([proc.stderr] if proc.stderr else []):
        threading.Thread(target=lambda s=stream: [None for _ in iter(lambda: s.read(65536), b"")],
                         daemon=True).start()
    return proc, int(line.decode().strip().rsplit(":", 1)[1])


def stop(proc, grace=10.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---- HTTP helpers -------------------------------------------------------------------------


def request(port, method, path, body=None, session=SESSION, timeout=15.0, conn=None):
    """One request; returns (status, headers, body bytes). Raises on a transport error."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"X-Llmux-Session": session}
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        if own:
            c.close()


def sse_events(raw):
    """The data: payloads of an event stream (str list)."""
    out = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [l[5:].lstrip() for l in block.split(b"\n") if l.startswith(b"data:")]
        if data:
            out.append(b"\n".join(data).decode("utf-8", "replace"))
    return out


# ---- scenarios ----------------------------------------------------------------------------

MSG = [{"role": "user", "content": "Tell me about the weather."}]


def chat(provider, model="soak-ok", **extra):
    body = {"provider": provider, "model": model, "messages": MSG}
    body.update(extra)
    return body


class Unexplained(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Unexplained(what)


def check_chat(provider):
    def check(status, body):
        expect(status == 200, "status %d" % status)
        j = json.loads(body)
        expect(j.get("provider") == provider, "provider %r" % j.get("provider"))
        expect(j["choices"][0]["message"].get("content"), "no content")
    return check


def check_stream(provider, done=True, error_type=None):
    def check(status, body):
        expect(status == 200, "status %d: %r" % (status, body[:200]))
        ev = sse_events(body)
        expect(ev, "no events")
        if done:
            expect(ev[-1] == "[DONE]", "last event %r" % ev[-1][:200])
            for e in ev[:-1]:
                j = json.loads(e)
                expect("error" not in j, "error event %r" % e[:200])
                expect(j.get("provider") == provider, "chunk from %r" % j.get("provider"))
        else:
            expect("[DONE]" not in ev, "[DONE] after a cut")
            j = json.loads(ev[-1])
            expect(j.get("error", {}).get("type") == error_type, "last event %r" % ev[-1][:200])
    return check


def check_error(status_want, type_want):
    def check(status, body):
        expect(status == status_want, "status %d (want %d): %r" % (status, status_want, body[:200]))
        j = json.loads(body)
        expect(j["error"]["type"] == type_want, "error type %r" % j["error"]["type"])
    return check


def check_fallback(status, body):
    expect(status == 200, "status %d: %r" % (status, body[:300]))
    j = json.loads(body)
    expect(j.get("provider") == "anthropic", "provider %r" % j.get("provider"))
    att = j.get("llmux", {}).get("attempts", [])
    expect(len(att) == 3, "attempts %r" % att)
    expect([a.get("error_type") for a in att[:2]] == ["rate_limited", "rate_limited"],
           "attempts %r" % att)


def check_timeout_fallback(status, body):
    expect(status == 200, "status %d: %r" % (status, body[:300]))
    j = json.loads(body)
    expect(j.get("provider") == "azure", "provider %r" % j.get("provider"))
    att = j.get("llmux", {}).get("attempts", [])
    expect(len(att) == 2 and att[0].get("error_type") == "timeout", "attempts %r" % att)


def check_ok(status, body):
    expect(status == 200, "status %d" % status)


NO_RETRY = {"enabled": False}
SCENARIOS = []  # (name, weight, method, path, body, session, check)
for p in PROVIDERS:
    SCENARIOS.append(("chat_" + p, 6, "POST", "/v1/chat/completions", chat(p), SESSION,
                      check_chat(p)))
    SCENARIOS.append(("stream_" + p, 6, "POST", "/v1/chat/completions",
                      chat(p, stream=True), SESSION, check_stream(p)))
SCENARIOS += [
    ("stream_sentences", 4, "POST", "/v1/chat/completions",
     chat("anthropic", stream=True,
          stream_options={"chunk_by_sentence": True, "clean_sentences": True}),
     SESSION, check_stream("anthropic")),
    ("retry_then_fallback", 3, "POST", "/v1/chat/completions",
     chat("openai", "soak-429", retry={"max_retries": 1, "retry_delay": 0.01},
          fallbacks=[{"provider": "anthropic", "model": "soak-ok"}]), SESSION, check_fallback),
    ("all_fail", 3, "POST", "/v1/chat/completions", chat("google", "soak-503", retry=NO_RETRY),
     SESSION, check_error(502, "all_providers_failed")),
    ("stream_cut", 3, "POST", "/v1/chat/completions",
     chat("openai", "soak-drop", stream=True, retry=NO_RETRY), SESSION,
     check_stream("openai", done=False, error_type="stream_interrupted")),
    ("stream_early_fallback", 3, "POST", "/v1/chat/completions",
     chat("anthropic", "soak-drop0", stream=True, retry=NO_RETRY,
          fallbacks=[{"provider": "google", "model": "soak-ok"}]), SESSION,
     check_stream("google")),
    ("timeout_fallback", 2, "POST", "/v1/chat/completions",
     chat("openai", "soak-hang", timeout=0.3, retry=NO_RETRY,
          fallbacks=[{"provider": "azure", "model": "soak-ok"}]), SESSION,
     check_timeout_fallback),
    ("malformed", 2, "POST", "/v1/chat/completions",
     chat("anthropic", "soak-badjson", retry=NO_RETRY), SESSION,
     check_error(502, "all_providers_failed")),
    ("invalid", 2, "POST", "/v1/chat/completions", chat("openai", api_key="sk-no"), SESSION,
     check_error(400, "invalid_request")),
    ("not_configured", 2, "POST", "/v1/chat/completions", chat("openai"), "soak-empty",
     check_error(400, "provider_not_configured")),
    ("client_abort", 2, "POST", "/v1/chat/completions", chat("google", "soak-slow", stream=True),
     SESSION, None),
    ("healthz", 2, "GET", "/healthz", None, SESSION, check_ok),
    ("metrics", 1, "GET", "/metrics", None, SESSION, check_ok),
]

MOCK_STEPS = [
    {"model": "soak-429", "status": 429, "count": MAX_COUNT},
    {"model": "soak-503", "status": 503, "count": MAX_COUNT},
    {"model": "soak-drop", "drop_after_chunks": 3, "count": MAX_COUNT},
    {"model": "soak-drop0", "drop_after_chunks": 0, "count": MAX_COUNT},
    {"model": "soak-hang", "hang": True, "count": MAX_COUNT},
    {"model": "soak-badjson", "malformed": "json", "count": MAX_COUNT},
    {"model": "soak-slow", "chunk_interval_ms": 40, "count": MAX_COUNT},
]


# ---- the run --------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}  # scenario -> [ok, unexplained]
        self.unexplained = []  # first few descriptions
        self.cut_by_shutdown = 0
        self.total = 0

    def add(self, name, ok, why=None):
        with self.lock:
            c = self.counts.setdefault(name, [0, 0])
            c[0 if ok else 1] += 1
            self.total += 1
            if not ok and len(self.unexplained) < 20:
                self.unexplained.append("%s: %s" % (name, why))


def client_abort(port):
    """Opens a slow stream, reads its first bytes, hangs up: the proxy must cancel it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        body = json.dumps(chat("google", "soak-slow", stream=True)).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Llmux-Session: "
                  + SESSION.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"data:" not in got:
            chunk = s.recv(4096)
            expect(chunk, "closed before the first chunk")
            got += chunk
        expect(got.startswith(b"HTTP/1.1 200"), "status line %r" % got[:40])
    finally:
        s.close()


def load_thread(port, stats, stop_evt, state, seed):
    rnd = random.Random(seed)
    weights = [s[1] for s in SCENARIOS]
    conn = None
    while not stop_evt.is_set():
        name, _, method, path, body, session, check = rnd.choices(SCENARIOS, weights)[0]
        if rnd.random() < 0.1 and conn:  # sometimes a fresh connection
            conn.close()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        started = time.time()
        got_response_at = None
        try:
            if check is None:
                client_abort(port)
            else:
                headers = {"X-Llmux-Session": session}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    headers["Content-Type"] = "application/json"
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                got_response_at = time.time()
                raw = r.read()
                check(r.status, raw)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            stats.add(name, True)
        except Exception as e:  # noqa: BLE001 - every failure is classified below
            if conn:
                conn.close()
                conn = None
            term = state.get("sigterm_at")
            if term and (got_response_at is None or got_response_at > term) and \
                    not isinstance(e, Unexplained):
                with stats.lock:
                    stats.cut_by_shutdown += 1  # refused or cut before it had started
            elif term and isinstance(e, Unexplained) and started > term:
                with stats.lock:
                    stats.cut_by_shutdown += 1  # e.g. 503 while draining
            else:
                stats.add(name, False, "%s: %s" % (type(e).__name__, e))
    if conn:
        conn.close()


def slow_stream(port, result, idx, first_chunk_evt):
    """A slow stream for the drain check: must end with [DONE] after SIGTERM."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v1/chat/completions",
                  body=json.dumps(chat("openai", "soak-slow", stream=True)).encode(),
                  headers={"X-Llmux-Session": SESSION, "Content-Type": "application/json"})
        r = c.getresponse()
        raw = b""
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            raw += chunk
            if b'"content"' in raw:
                first_chunk_evt.set()
        c.close()
        ev = sse_events(raw)
        result[idx] = (r.status == 200 and ev and ev[-1] == "[DONE]", len(ev))
    except Exception as e:  # noqa: BLE001
        result[idx] = (False, "%s: %s" % (type(e).__name__, e))
    finally:
        first_chunk_evt.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="20 s of load (CI)")
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of load (300)")
    ap.add_argument("--clients", type=int, default=16, help="client threads (16)")
    ap.add_argument("--workers", type=int, default=2, help="proxy worker threads (2)")
    ap.add_argument("--bin", default=os.environ.get("LLMUX_BIN", os.path.join(ROOT, "build", "llmux")))
    ap.add_argument("--json", help="write the figures here as JSON")
    ap.add_argument("--only", help="comma-separated scenario names (diagnosis)")
    ap.add_argument("--proxy-log", help="write the proxy's stderr here (logs, sanitizer reports)")
    ap.add_argument("--rss-growth-kib", type=int, default=None,
                    help="largest RSS growth allowed after warm-up (default: 16 MiB, short: 24 MiB)")
    args = ap.parse_args()
    duration = 20.0 if args.short else args.duration
    if args.only:
        keep = set(args.only.split(","))
        SCENARIOS[:] = [s for s in SCENARIOS if s[0] in keep]
    rss_limit = args.rss_growth_kib or (24576 if args.short else 16384)

    mock, mock_port = start([args.bin, "mock", "--listen", "127.0.0.1:0", "--log-limit", "1000"])
    proxy = None
    try:
        base = "http://127.0.0.1:%d" % mock_port
        env = {"OPENAI_API_KEY": "sk-soak", "ANTHROPIC_API_KEY": "ak-soak",
               "GEMINI_API_KEY": "g-soak", "AZURE_OPENAI_API_KEY": "az-soak",
               "AZURE_OPENAI_ENDPOINT": base, "LLMUX_OPENAI_BASE_URL": base + "/v1",
               "LLMUX_ANTHROPIC_BASE_URL": base, "LLMUX_GOOGLE_BASE_URL": base,
               "LLMUX_TOKENS": ""}
        proxy, port = start([args.bin, "serve", "--listen", "127.0.0.1:0", "--workers",
                             str(args.workers), "--log-level", "warn", "--drain-timeout", "20"],
                            env, stderr_file=args.proxy_log)
        st, _, b = request(mock_port, "POST", "/_mock/script", MOCK_STEPS)
        if st != 200:
            raise RuntimeError("mock script refused: %r" % b)
        for p in PROVIDERS:
            st, _, b = request(port, "PUT", "/v1/sessions/%s/providers/%s" % (SESSION, p),
                               {"managed": True})
            if st != 200:
                raise RuntimeError("configure %s: %d %r" % (p, st, b))

        stats = Stats()
        state = {}
        stop_evt = threading.Event()
        rss = []  # (seconds since start, KiB)
        t0 = time.time()

        def sampler():
            while proxy.poll() is None and not state.get("sampler_stop"):
                v = rss_kib(proxy.pid)
                if v:
                    rss.append((round(time.time() - t0, 1), v))
                time.sleep(1.0 if args.short else 3.0)

        threading.Thread(target=sampler, daemon=True).start()
        threads = [threading.Thread(target=load_thread, args=(port, stats, stop_evt, state, i),
                                    daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        while time.time() - t0 < duration:
            time.sleep(0.5)
            if proxy.poll() is not None:
                break
        load_end = time.time() - t0

        # SIGTERM during load: slow streams in flight, load still running.
        n_slow = 8
        results = [None] * n_slow
        firsts = [threading.Event() for _ in range(n_slow)]
        slows = [threading.Thread(target=slow_stream, args=(port, results, i, firsts[i]),
                                  daemon=True) for i in range(n_slow)]
        for t in slows:
            t.start()
        for e in firsts:
            e.wait(15)
        state["sigterm_at"] = time.time()
        proxy.send_signal(signal.SIGTERM)
        stop_evt.set()
        for t in slows:
            t.join(40)
        for t in threads:
            t.join(40)
        try:
            exit_code = proxy.wait(40)
        except subprocess.TimeoutExpired:
            exit_code = "did not exit"
        state["sampler_stop"] = True

        # RSS: warm-up is the first quarter of the load phase
        load_rss = [v for (t, v) in rss if t <= load_end]
        warm = [v for (t, v) in rss if t >= load_end / 4 and t <= load_end]
        rss_start = load_rss[0] if load_rss else None
        rss_warm = warm[0] if warm else None
        rss_end = load_rss[-1] if load_rss else None
        rss_max = max(load_rss) if load_rss else None
        growth = (max(warm) - rss_warm) if warm else None

        drained = [r for r in results if r and r[0] is True]
        unexplained = sum(c[1] for c in stats.counts.values())
        figures = {
            "duration_s": round(load_end, 1),
            "clients": args.clients,
            "requests": stats.total,
            "requests_per_s": round(stats.total / load_end, 1) if load_end else 0,
            "unexplained_errors": unexplained,
            "cut_by_shutdown": stats.cut_by_shutdown,
            "by_scenario": {k: {"ok": v[0], "unexplained": v[1]}
                            for k, v in sorted(stats.counts.items())},
            "rss_kib": {"start": rss_start, "after_warmup": rss_warm, "end": rss_end,
                        "max": rss_max, "growth_after_warmup": growth, "samples": len(load_rss)},
            "drain": {"streams": n_slow, "completed_with_done": len(drained),
                      "results": [r[1] if r else None for r in results],
                      "exit_code": exit_code},
            "first_unexplained": stats.unexplained,
        }
        ok = (unexplained == 0 and len(drained) == n_slow and exit_code == 0 and
              growth is not None and growth <= rss_limit and stats.total > 0)
        figures["passed"] = ok
        text = json.dumps(figures, indent=2)
        print(text)
        if args.json:
            with open(args.json, "w") as f:
                f.write(text + "\n")
        if not ok:
            print("soak: FAILED (see above)", file=sys.stderr)
        return 0 if ok else 1
    finally:
        if proxy is not None:
            stop(proxy)
        stop(mock)


if __name__ == "__main__":
    sys.exit(main())
