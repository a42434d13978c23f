#!/usr/bin/env bash
# bench/run.sh — llmux's benchmarks: every part, side by side in one run, one table at
# the end (ratios, not absolute times: machines are shared and noisy). Tables, never
# pass/fail. bench/README.md says what each row means.
#
#   bench/run.sh            all parts (about 10 minutes on 2 cores)
#   bench/run.sh quick      the same rows, short (about 2 minutes): a smoke test
#
# Environment:
#   BENCH_PARTS="1 2 3 4 5"  which parts (1 overhead, 2 peer, 3 streaming, 4 memory,
#                            5 hot paths + callgrind); 2 needs 1
#   BENCH_BUILD=DIR          the Release build to use/make (default build-bench)
#   BENCH_OUT=FILE           where the final table is also written
#                            (default $BENCH_BUILD/bench-report.txt)
#   BENCH_NO_INSTALL=1       do not run scripts/bootstrap.sh --bench or npm ci
#
# Pinning: with 2+ cores the process under test (nginx hop, llmux, Portkey) runs on
# core 0, the upstream and the load generator on core 1 (taskset -c). With one core all
# share it (the output says so).
set -euo pipefail

MODE=${1:-full}
case "$MODE" in
full | quick) ;;
*)
    echo "usage: bench/run.sh [quick]" >&2
    exit 2
    ;;
esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
[[ "$BUILD" = /* ]] || BUILD=$ROOT/$BUILD
SHARED=$(cd "$ROOT/.." && pwd)/shared
PARTS=${BENCH_PARTS:-1 2 3 4 5}
OUT=${BENCH_OUT:-$BUILD/bench-report.txt}

if [[ $MODE == quick ]]; then
    DUR=2 LAT_DUR=2 WARM=1 ROUNDS=1 MOCK_ROUNDS=1
    STREAM_N=3 STREAM_ROUNDS=1
    HOLDS=(200 1000) SOAK_REQS=50000 SOAK_MAX_S=10
    HOT_BUDGET=0.05 SENT_MB=2 CG_N=200
else
    DUR=6 LAT_DUR=5 WARM=1 ROUNDS=2 MOCK_ROUNDS=1
    STREAM_N=8 STREAM_ROUNDS=2
    HOLDS=(1000 5000) SOAK_REQS=1000000 SOAK_MAX_S=150
    HOT_BUDGET=0.3 SENT_MB=10 CG_N=2000
fi
CONC=32        # wrk connections for throughput
LAT_CONNS=2    # wrk connections for the fixed low rate ...
LAT_DELAY_MS=5 # ... each waiting this long between requests (~300 req/s in all)
STREAM_WORDS=200
STREAM_INTERVAL_MS=2

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# ---- setup -----------------------------------------------------------------------------

if [[ -z ${BENCH_NO_INSTALL:-} ]]; then
    need=0
    for t in nginx wrk valgrind taskset node npm cmake; do
        command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$t" >/dev/null 2>&1 || need=1
    done
    if ((need)); then
        log "installing the benchmark tools (scripts/bootstrap.sh --bench)"
        "$ROOT/scripts/bootstrap.sh" --bench
    fi
fi
export PATH=$PATH:/usr/sbin
for t in nginx wrk taskset node; do
    command -v "$t" >/dev/null || {
        echo "bench/run.sh: $t is missing: run scripts/bootstrap.sh --bench" >&2
        exit 1
    }
done

log "building llmux and the bench programs (Release) in $BUILD"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLMUX_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target llmux bench_client bench_hotpath bench_sentence \
    >"$BUILD/bench-build.log" 2>&1 || {
    tail -30 "$BUILD/bench-build.log" >&2
    exit 1
}
LLMUX=$BUILD/llmux
CLIENT=$BUILD/bench/bench_client
BODY=$ROOT/bench/chat_request.json
LUA=$ROOT/bench/post.lua

PEER_DIR=$ROOT/bench/peer
PEER_JS=$PEER_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
PEER_WHY=""
if has_part 2; then
    if [[ ! -f $PEER_JS && -z ${BENCH_NO_INSTALL:-} ]]; then
        log "installing Portkey's gateway (npm ci in bench/peer)"
        (cd "$PEER_DIR" && timeout 300 npm ci --no-audit --no-fund >"$BUILD/bench-npm.log" 2>&1) ||
            PEER_WHY="npm ci failed in bench/peer (see $BUILD/bench-npm.log)"
    fi
    [[ -f $PEER_JS || -n $PEER_WHY ]] || PEER_WHY="not installed (bench/peer: npm ci)"
fi

NCPU=$(nproc)
if ((NCPU >= 2)); then
    CPU_PROXY=0 CPU_LOAD=1
    PIN_NOTE="pinned with taskset: the process under test (nginx hop, llmux, Portkey) on core 0; upstream (nginx/mock) and load generator (wrk, bench_client) on core 1"
else
    CPU_PROXY=0 CPU_LOAD=0
    PIN_NOTE="one core: everything shares core 0 (taskset -c 0)"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

T=$(mktemp -d /tmp/llmux-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REPORT=$T/report.txt
: >"$REPORT"
say() { printf '%s\n' "$*" >>"$REPORT"; }

# A free loopback port (the kernel picks it; a tiny race with other programs is accepted).
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_port() { # port [seconds]
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench/run.sh: nothing listens on port $1" >&2
    return 1
}

# The port from a "listening HOST:PORT" first line.
wait_listening() { # file
    local i
    for ((i = 0; i < 600; i++)); do
        if [[ -s $1 ]] && head -1 "$1" | grep -q '^listening '; then
            head -1 "$1" | sed 's/.*://'
            return 0
        fi
        sleep 0.05
    done
    echo "bench/run.sh: no 'listening' line in $1" >&2
    return 1
}

stop() { # pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- the upstreams and proxies ----------------------------------------------------------

# JSON → one line, escaped for an nginx single-quoted string.
nginx_body() {
    node -e '
const b = JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")));
if (b.includes("$")) { console.error("a fixture with $ cannot be an nginx return body"); process.exit(1); }
process.stdout.write(b.replace(/\\/g, "\\\\").replace(/\x27/g, "\\\x27"));' "$1"
}

nginx_common() { # dir
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
EOF
}

# nginx answering every completion with a recorded body (OpenAI and Anthropic).
start_nginx_static() { # port cpu → pid in NGX_UP_PID
    local d=$T/nginx-static
    mkdir -p "$d"
    local oai an
    oai=$(nginx_body "$SHARED/fixtures/openai/chat_completion_text.json")
    an=$(nginx_body "$SHARED/fixtures/anthropic/messages_text.json")
    {
        nginx_common "$d"
        cat <<EOF
    server {
        listen 127.0.0.1:$1 backlog=4096;
        default_type application/json;
        location = /v1/chat/completions { return 200 '$oai'; }
        location = /v1/messages { return 200 '$an'; }
        location / { return 200 '{"object":"list","data":[]}'; }
    }
}
EOF
    } >"$d/nginx.conf"
    taskset -c "$2" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
    NGX_UP_PID=$!
    PIDS+=("$NGX_UP_PID")
    wait_port "$1"
}

# A bare nginx proxy_pass hop with upstream keep-alive: the limit.
write_hop_conf() { # dir port upstream_port
    mkdir -p "$1"
    {
        nginx_common "$1"
        cat <<EOF
    upstream up { server 127.0.0.1:$3; keepalive 256; keepalive_requests 10000000; }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$1/nginx.conf"
}

start_nginx_hop() { # port upstream_port cpu → NGX_HOP_PID
    local d=$T/nginx-hop-$1
    write_hop_conf "$d" "$1" "$2"
    taskset -c "$3" ${NGINX_WRAP:-} nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$d/stderr.log" &
    NGX_HOP_PID=$!
    PIDS+=("$NGX_HOP_PID")
    wait_port "$1" 30
}

start_mock() { # cpu → MOCK_PID MOCK_PORT
    taskset -c "$1" "$LLMUX" mock --listen 127.0.0.1:0 --log-limit 1 >"$T/mock.out" 2>"$T/mock.err" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    MOCK_PORT=$(wait_listening "$T/mock.out")
}

# llmux serve in front of an upstream base (http://127.0.0.1:PORT), one worker, session
# "bench" with managed openai and anthropic. Logs at the default level (info: one JSON
# line per request) go to a file. → LLMUX_PID LLMUX_PORT
start_llmux() { # upstream_base cpu [extra serve args...]
    local base=$1 cpu=$2
    shift 2
    local tag=$RANDOM
    env LLMUX_TOKENS= OPENAI_API_KEY=sk-bench-managed ANTHROPIC_API_KEY=sk-ant-bench-managed \
        LLMUX_OPENAI_BASE_URL="$base/v1" LLMUX_ANTHROPIC_BASE_URL="$base" \
        taskset -c "$cpu" ${LLMUX_WRAP:-} "$LLMUX" serve --listen 127.0.0.1:0 --workers 1 "$@" \
        >"$T/llmux-$tag.out" 2>"$T/llmux-$tag.log" &
    LLMUX_PID=$!
    PIDS+=("$LLMUX_PID")
    LLMUX_PORT=$(wait_listening "$T/llmux-$tag.out")
    local p
    for p in openai anthropic; do
        "$CLIENT" request PUT "http://127.0.0.1:$LLMUX_PORT/v1/sessions/bench/providers/$p" \
            '{"managed":true}' >/dev/null
    done
}

start_portkey() { # port cpu → PEER_PID
    taskset -c "$2" node "$PEER_JS" --port="$1" --headless >"$T/portkey-$1.log" 2>&1 &
    PEER_PID=$!
    PIDS+=("$PEER_PID")
    wait_port "$1" 20
}

# ---- part 1/2: wrk rows ---------------------------------------------------------------

# Runs wrk; prints "rps p50_us p99_us errors requests seconds" (errors = socket errors +
# non-2xx).
wrk_run() { # url mode host duration conns [delay_ms]
    local out
    out=$(env BENCH_MODE="$2" BENCH_HOST="$3" BENCH_BODY_FILE="$BODY" ${6:+BENCH_DELAY_MS=$6} \
        taskset -c "$CPU_LOAD" wrk -t1 -c"$5" -d"$4"s --timeout 10s -s "$LUA" "$1" 2>&1) || true
    local r
    r=$(grep '^RESULT' <<<"$out" | tail -1 || true)
    if [[ -z $r ]]; then
        echo "0 0 0 -1 0 0"
        return
    fi
    awk '{for(i=2;i<=NF;i++){split($i,kv,"=");v[kv[1]]=kv[2]}
          printf "%s %s %s %d %s %s\n", v["rps"], v["p50_us"], v["p99_us"], v["errors"]+v["non2xx"],
                 v["requests"], v["seconds"]}' <<<"$r"
}

declare -A RPS P50 P99 ERR EFF CORE
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime+stime, all threads

# One row: warm-up, throughput at CONC (and the CPU the process under test used for it),
# latency at a fixed low rate. Keeps the best of the rounds (the least disturbed by the
# machine's other tenants).
measure_row() { # key url mode host pid_under_test
    local key=$1 url=$2 mode=$3 host=$4 pid=$5
    wrk_run "$url" "$mode" "$host" "$WARM" "$CONC" >/dev/null
    local rps p50 p99 err err2 reqs secs t0 t1
    t0=$(cpu_ticks "$pid")
    read -r rps _ _ err reqs secs < <(wrk_run "$url" "$mode" "$host" "$DUR" "$CONC")
    t1=$(cpu_ticks "$pid")
    read -r _ p50 p99 err2 _ _ < <(wrk_run "$url" "$mode" "$host" "$LAT_DUR" "$LAT_CONNS" "$LAT_DELAY_MS")
    if ((err2 > err)); then err=$err2; fi
    local eff core
    read -r eff core < <(awk -v n="$reqs" -v s="$secs" -v d=$((t1 - t0)) -v hz="$CLK_TCK" \
        'BEGIN{c = d / hz; printf "%.0f %.0f\n", (c > 0 ? n / c : 0), (s > 0 ? 100 * c / s : 0)}')
    log "  $key: $rps req/s using $core% of a core ($eff req per CPU-second); p50 ${p50} us, p99 ${p99} us at the low rate; errors $err"
    if [[ -z ${RPS[$key]:-} ]] || awk -v a="$rps" -v b="${RPS[$key]}" 'BEGIN{exit !(a>b)}'; then
        RPS[$key]=$rps
        CORE[$key]=$core
    fi
    if [[ -z ${EFF[$key]:-} ]] || ((eff > ${EFF[$key]})); then EFF[$key]=$eff; fi
    if [[ -z ${P50[$key]:-} ]] || ((p50 > 0 && p50 < ${P50[$key]})); then P50[$key]=$p50; fi
    if [[ -z ${P99[$key]:-} ]] || ((p99 > 0 && p99 < ${P99[$key]})); then P99[$key]=$p99; fi
    if [[ -z ${ERR[$key]:-} ]] || ((err > ${ERR[$key]})); then ERR[$key]=$err; fi
}

# Prints the overhead tables for one upstream (keys prefixed with $1): measured values,
# then every value as a ratio to the direct row and to the nginx hop.
overhead_table() { # prefix title rows...
    local pfx=$1 title=$2
    shift 2
    local d=$pfx.direct h=$pfx.hop key label
    say ""
    say "$title"
    say "$(printf '%-36s %8s %5s %9s %7s %7s %7s %7s %6s' row 'req/s' 'core%' 'req/CPU-s' \
        'p50 us' 'p99 us' '+p50 us' '+p99 us' errors)"
    for key in "$@"; do
        label=${LABEL[$key]}
        if [[ -z ${RPS[$pfx.$key]:-} ]]; then
            say "$(printf '%-36s %s' "$label" "${SKIP[$pfx.$key]:-not measured}")"
            continue
        fi
        awk -v l="$label" -v r="${RPS[$pfx.$key]}" -v p5="${P50[$pfx.$key]}" -v p9="${P99[$pfx.$key]}" \
            -v d5="${P50[$d]}" -v d9="${P99[$d]}" -v e="${ERR[$pfx.$key]}" -v ef="${EFF[$pfx.$key]}" \
            -v co="${CORE[$pfx.$key]}" -v self="$key" 'BEGIN{
              a5 = self=="direct" ? "-" : sprintf("%d", p5-d5); a9 = self=="direct" ? "-" : sprintf("%d", p9-d9)
              printf "%-36s %8.0f %5d %9d %7d %7d %7s %7s %6d\n", l, r, co, ef, p5, p9, a5, a9, e }' >>"$REPORT"
    done
    say "$(printf '%-36s %6s %6s %9s %6s %6s %6s %6s %6s %6s' 'ratios (/d: to direct, /h: to hop)' \
        'rps/d' 'rps/h' 'cpu-eff/h' 'p50/d' 'p50/h' 'p99/d' 'p99/h' '+p50/h' '+p99/h')"
    for key in "$@"; do
        [[ -n ${RPS[$pfx.$key]:-} ]] || continue
        awk -v l="${LABEL[$key]}" -v r="${RPS[$pfx.$key]}" -v p5="${P50[$pfx.$key]}" -v p9="${P99[$pfx.$key]}" \
            -v dr="${RPS[$d]}" -v d5="${P50[$d]}" -v d9="${P99[$d]}" \
            -v hr="${RPS[$h]}" -v h5="${P50[$h]}" -v h9="${P99[$h]}" \
            -v ef="${EFF[$pfx.$key]}" -v hef="${EFF[$h]}" -v self="$key" '
            function q(a,b){return b>0 ? sprintf("%.2f",a/b) : "-"}
            BEGIN{
              x5 = (self=="direct"||self=="hop"||h5<=d5) ? "-" : q(p5-d5, h5-d5)
              x9 = (self=="direct"||self=="hop"||h9<=d9) ? "-" : q(p9-d9, h9-d9)
              printf "%-36s %6s %6s %9s %6s %6s %6s %6s %6s %6s\n", l, q(r,dr), q(r,hr),
                (self=="direct" ? "-" : q(ef,hef)), q(p5,d5), q(p5,h5), q(p9,d9), q(p9,h9), x5, x9 }' >>"$REPORT"
    done
}

declare -A LABEL SKIP
LABEL[direct]="upstream directly"
LABEL[hop]="nginx proxy_pass hop (the limit)"
LABEL[llmux]="llmux openai -> openai"
LABEL[llmux_an]="llmux openai -> anthropic (transl.)"
LABEL[peer]="Portkey openai -> openai"
LABEL[peer_an]="Portkey openai -> anthropic"

run_overhead() { # prefix upstream_port rounds upstream_pid
    local pfx=$1 up=$2 rounds=$3 up_pid=$4
    local hop_port peer_port
    hop_port=$(free_port)
    start_nginx_hop "$hop_port" "$up" "$CPU_PROXY"
    start_llmux "http://127.0.0.1:$up" "$CPU_PROXY"
    local lport=$LLMUX_PORT lpid=$LLMUX_PID
    local ppid=""
    if has_part 2 && [[ -z $PEER_WHY ]]; then
        peer_port=$(free_port)
        if start_portkey "$peer_port" "$CPU_PROXY"; then
            ppid=$PEER_PID
        else
            PEER_WHY="did not start (see its log)"
        fi
    fi
    local r
    for ((r = 1; r <= rounds; r++)); do
        log "part 1 ($pfx upstream), round $r/$rounds"
        measure_row "$pfx.direct" "http://127.0.0.1:$up/v1/chat/completions" direct "" "$up_pid"
        measure_row "$pfx.hop" "http://127.0.0.1:$hop_port/v1/chat/completions" direct "" "$NGX_HOP_PID"
        measure_row "$pfx.llmux" "http://127.0.0.1:$lport/v1/chat/completions" llmux "" "$lpid"
        measure_row "$pfx.llmux_an" "http://127.0.0.1:$lport/v1/chat/completions" llmux-anthropic "" "$lpid"
        if [[ -n $ppid ]]; then
            measure_row "$pfx.peer" "http://127.0.0.1:$peer_port/v1/chat/completions" portkey \
                "http://127.0.0.1:$up/v1" "$ppid"
            measure_row "$pfx.peer_an" "http://127.0.0.1:$peer_port/v1/chat/completions" \
                portkey-anthropic "http://127.0.0.1:$up/v1" "$ppid"
        fi
    done
    if [[ -n $ppid ]]; then
        RSS_PEER_AFTER_LOAD[$pfx]=$(rss_kb "$ppid")
        stop "$ppid"
    fi
    if ! has_part 2; then
        SKIP[$pfx.peer]="not run (BENCH_PARTS has no 2)"
        SKIP[$pfx.peer_an]=${SKIP[$pfx.peer]}
    elif [[ -n $PEER_WHY ]]; then
        SKIP[$pfx.peer]="cannot run here: $PEER_WHY"
        SKIP[$pfx.peer_an]=${SKIP[$pfx.peer]}
    fi
    stop "$lpid"
    stop "$NGX_HOP_PID"
}
declare -A RSS_PEER_AFTER_LOAD

# ---- report header ----------------------------------------------------------------------

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
say "llmux benchmarks ($MODE) — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
say "machine: $NCPU cores, $CPU_MODEL, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
say "tools: $(nginx -v 2>&1 | sed 's/.*version: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), node $(node --version), $(curl-config --version 2>/dev/null || echo libcurl)"
say "$PIN_NOTE"
say "llmux: serve --workers 1 (one core), default log level (info, one JSON line per request, to a file)"

# ---- part 1 + 2 -------------------------------------------------------------------------

NGX_UP_PORT=$(free_port)
start_nginx_static "$NGX_UP_PORT" "$CPU_LOAD"
start_mock "$CPU_LOAD"

if has_part 1; then
    run_overhead ngx "$NGX_UP_PORT" "$ROUNDS" "$NGX_UP_PID"
    run_overhead mock "$MOCK_PORT" "$MOCK_ROUNDS" "$MOCK_PID"
    say ""
    say "== 1/2. Overhead, non-streaming: the ~1 KB chat request (bench/chat_request.json) =="
    say "req/s: wrk -t1 -c$CONC for ${DUR}s (after ${WARM}s warm-up). core%, req/CPU-s: the CPU the process"
    say "under test used meanwhile (utime+stime, /proc/PID/stat) and requests per CPU-second = one-core"
    say "throughput, which a load generator that saturates first or other tenants of the core cannot hide."
    say "p50/p99: wrk -t1 -c$LAT_CONNS, each connection waiting ${LAT_DELAY_MS} ms between requests (a fixed low"
    say "rate), ${LAT_DUR}s; +p50/+p99: added over direct. Best of the rounds (nginx upstream $ROUNDS, mock $MOCK_ROUNDS)."
    say "Ratios: rps = req/s, cpu-eff = req/CPU-s; /d = divided by the direct row's value, /h = by the"
    say "nginx hop's; +p50/h, +p99/h = the added latency divided by the nginx hop's added latency (goal <= 1.5)."
    overhead_table ngx "upstream: nginx returning the recorded OpenAI/Anthropic bodies (static, core $CPU_LOAD)" \
        direct hop llmux llmux_an peer peer_an
    overhead_table mock "upstream: llmux mock (core $CPU_LOAD)" direct hop llmux llmux_an peer peer_an
    if has_part 2 && [[ -z $PEER_WHY ]]; then
        say "Portkey: @portkey-ai/gateway $(node -p 'require(process.argv[1]).version' "$PEER_DIR/node_modules/@portkey-ai/gateway/package.json"), node $(node --version), one process on core $CPU_PROXY, x-portkey-custom-host = the upstream; RSS after load: ${RSS_PEER_AFTER_LOAD[ngx]:-?} kB"
    elif has_part 2; then
        say "Portkey: cannot run here: $PEER_WHY"
    fi
fi

# ---- part 3: streaming ------------------------------------------------------------------

if has_part 3; then
    log "part 3: streaming (${STREAM_WORDS} chunks, ${STREAM_INTERVAL_MS} ms apart)"
    "$CLIENT" script bench-stream "$STREAM_WORDS" "$STREAM_INTERVAL_MS" >"$T/stream-script.json"
    "$CLIENT" request POST "http://127.0.0.1:$MOCK_PORT/_mock/script" "$(cat "$T/stream-script.json")" >/dev/null
    start_llmux "http://127.0.0.1:$MOCK_PORT" "$CPU_PROXY"
    msgs='"messages":[{"role":"user","content":"Tell me about my appointment."}]'
    echo "{\"model\":\"bench-stream\",\"stream\":true,$msgs}" >"$T/s-direct.json"
    echo "{\"model\":\"bench-stream\",\"max_tokens\":4096,\"stream\":true,$msgs}" >"$T/s-direct-an.json"
    echo "{\"model\":\"openai/bench-stream\",\"stream\":true,$msgs}" >"$T/s-llmux.json"
    echo "{\"model\":\"openai/bench-stream\",\"stream\":true,\"stream_options\":{\"chunk_by_sentence\":true},$msgs}" >"$T/s-sent.json"
    echo "{\"model\":\"anthropic/bench-stream\",\"stream\":true,$msgs}" >"$T/s-an.json"
    L=http://127.0.0.1:$LLMUX_PORT/v1/chat/completions
    for ((r = 1; r <= STREAM_ROUNDS; r++)); do
        taskset -c "$CPU_LOAD" "$CLIENT" stream "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" \
            "$T/s-direct.json" "$STREAM_N" "$T/st-direct.txt" -H "Authorization: Bearer sk-bench"
        taskset -c "$CPU_LOAD" "$CLIENT" stream "http://127.0.0.1:$MOCK_PORT/v1/messages" \
            "$T/s-direct-an.json" "$STREAM_N" "$T/st-direct-an.txt" -H "x-api-key: sk-ant-bench" \
            -H "anthropic-version: 2023-06-01"
        taskset -c "$CPU_LOAD" "$CLIENT" stream "$L" "$T/s-llmux.json" "$STREAM_N" "$T/st-llmux.txt" -H "X-Llmux-Session: bench"
        taskset -c "$CPU_LOAD" "$CLIENT" stream "$L" "$T/s-sent.json" "$STREAM_N" "$T/st-sent.txt" -H "X-Llmux-Session: bench"
        taskset -c "$CPU_LOAD" "$CLIENT" stream "$L" "$T/s-an.json" "$STREAM_N" "$T/st-an.txt" -H "X-Llmux-Session: bench"
    done
    stop "$LLMUX_PID"
    say ""
    say "== 3. Streaming: llmux mock, ${STREAM_WORDS} content chunks ${STREAM_INTERVAL_MS} ms apart, $((STREAM_N * STREAM_ROUNDS)) streams per row, rows interleaved =="
    say "first: time from sending the request to the first content chunk (us, p50 over streams)."
    say "+first: what the row adds to it over direct (p50, p90 over streams; each stream against the"
    say "median direct stream; with chunk_by_sentence: the first whole sentence against direct's"
    say "arrival of the word completing it)."
    say "gap: direct's inter-chunk gap (p50, p99 over all chunks) and what each row adds to it."
    say "$(printf '%-34s %7s %8s %9s %10s %10s %9s %9s %9s %9s' row chunks streams 'first p50' '+first p50' '+first p90' 'gap p50' '+gap p50' 'gap p99' '+gap p99')"
    "$CLIENT" compare "$T/st-direct.txt" "$T/st-direct.txt" "mock directly (openai)" >>"$REPORT"
    "$CLIENT" compare "$T/st-direct-an.txt" "$T/st-direct-an.txt" "mock directly (anthropic)" >>"$REPORT"
    "$CLIENT" compare "$T/st-direct.txt" "$T/st-llmux.txt" "llmux openai -> openai" >>"$REPORT"
    "$CLIENT" compare "$T/st-direct-an.txt" "$T/st-an.txt" "llmux openai -> anthropic *" >>"$REPORT"
    "$CLIENT" compare "$T/st-direct.txt" "$T/st-sent.txt" "llmux + chunk_by_sentence **" >>"$REPORT"
    say "*  against the mock's Anthropic stream directly.  ** a sentence can only leave when the next"
    say "   word shows it ended ('Dr.' is not an end), so +first includes about one upstream gap."
fi

# ---- part 4: memory ---------------------------------------------------------------------

if has_part 4; then
    log "part 4: memory"
    "$CLIENT" script bench-hold 60 1000 >"$T/hold-script.json"
    "$CLIENT" request POST "http://127.0.0.1:$MOCK_PORT/_mock/script" "$(cat "$T/hold-script.json")" >/dev/null
    echo '{"max_streams_per_token": 100000, "max_inflight": 100000}' >"$T/mem-config.json"
    start_llmux "http://127.0.0.1:$MOCK_PORT" "$CPU_PROXY" --config "$T/mem-config.json"
    sleep 0.5
    RSS_START=$(rss_kb "$LLMUX_PID")
    echo '{"model":"openai/bench-hold","stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$T/hold.json"
    "$CLIENT" seq "http://127.0.0.1:$LLMUX_PORT/v1/chat/completions" "$BODY" 20 -H "X-Llmux-Session: bench" >/dev/null || true
    sleep 0.5
    RSS_IDLE=$(rss_kb "$LLMUX_PID")
    say ""
    say "== 4. Memory (VmRSS of llmux serve --workers 1) =="
    say "$(printf '%-44s %10s %14s' state 'RSS kB' 'per stream')"
    say "$(printf '%-44s %10s %14s' 'started' "$RSS_START" -)"
    say "$(printf '%-44s %10s %14s' 'idle (sessions configured, 20 requests)' "$RSS_IDLE" -)"
    for n in "${HOLDS[@]}"; do
        log "  $n concurrent streams"
        taskset -c "$CPU_LOAD" "$CLIENT" hold "127.0.0.1:$LLMUX_PORT" "$T/hold.json" "$n" 4 \
            -H "X-Llmux-Session: bench" >"$T/hold-$n.out" &
        hp=$!
        PIDS+=("$hp")
        for ((i = 0; i < 1300; i++)); do
            [[ -s $T/hold-$n.out ]] && break
            sleep 0.05
        done
        sleep 1
        rss=$(rss_kb "$LLMUX_PID")
        read -r _ ready total errs secs <"$T/hold-$n.out" || true
        wait "$hp" || true
        per=$(awk -v a="$rss" -v b="$RSS_IDLE" -v n="${ready:-0}" 'BEGIN{ if (n>0) printf "%.1f KB", (a-b)/n; else print "-"}')
        say "$(printf '%-44s %10s %14s' "$n streams open (${ready:-0} with content, $errs errors)" "$rss" "$per")"
        sleep 1
        say "$(printf '%-44s %10s %14s' "  after they closed" "$(rss_kb "$LLMUX_PID")" -)"
    done
    stop "$LLMUX_PID"

    # soak: ~1 M requests (bounded in time) through one llmux in front of nginx; all
    # cores (a leak check, not a one-core measurement)
    start_llmux "http://127.0.0.1:$NGX_UP_PORT" "0-$((NCPU - 1))" --workers "$NCPU"
    wrk_run "http://127.0.0.1:$LLMUX_PORT/v1/chat/completions" llmux "" 3 "$CONC" >/dev/null
    read -r probe _ _ _ < <(wrk_run "http://127.0.0.1:$LLMUX_PORT/v1/chat/completions" llmux "" 2 "$CONC")
    RSS_BEFORE=$(rss_kb "$LLMUX_PID")
    soak_s=$(awk -v r="$probe" -v n="$SOAK_REQS" -v m="$SOAK_MAX_S" 'BEGIN{ s = r>0 ? n/r : m; if (s>m) s=m; if (s<2) s=2; printf "%d", s+0.999 }')
    log "  soak: ${soak_s}s at ~$probe req/s"
    read -r _ _ _ serr sreqs _ < <(wrk_run "http://127.0.0.1:$LLMUX_PORT/v1/chat/completions" llmux "" "$soak_s" "$CONC")
    sleep 1
    RSS_AFTER=$(rss_kb "$LLMUX_PID")
    stop "$LLMUX_PID"
    say "$(printf '%-44s %10s %14s' "soak ($NCPU workers): before, after 5 s of load" "$RSS_BEFORE" -)"
    say "$(printf '%-44s %10s %14s' "soak: after ~$sreqs requests (${soak_s}s, $serr errors)" "$RSS_AFTER" \
        "$(awk -v a="$RSS_AFTER" -v b="$RSS_BEFORE" 'BEGIN{printf "%+d kB", a-b}')")"
fi

# ---- part 5: hot paths + callgrind ---------------------------------------------------------

if has_part 5; then
    log "part 5: micro-benchmarks"
    say ""
    say "== 5. Hot paths (bench_hotpath, bench_sentence; best of 3, one core, $HOT_BUDGET s per row) =="
    taskset -c "$CPU_PROXY" "$BUILD/bench/bench_hotpath" "$BODY" "$SHARED/fixtures" "$HOT_BUDGET" | tail -n +3 >>"$REPORT"
    say ""
    taskset -c "$CPU_PROXY" "$BUILD/bench/bench_sentence" "$SHARED/data/sentences.jsonl" "$SENT_MB" | tail -n +3 >>"$REPORT"

    if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
        log "part 5: callgrind instruction counts ($CG_N requests per row)"
        "$CLIENT" script bench-cg 200 0 >"$T/cg-script.json"
        "$CLIENT" request POST "http://127.0.0.1:$MOCK_PORT/_mock/script" "$(cat "$T/cg-script.json")" >/dev/null
        mkdir -p "$T/cg"
        LLMUX_WRAP="valgrind --tool=callgrind --callgrind-out-file=$T/cg/llmux.%p --dump-instr=no" \
            start_llmux "http://127.0.0.1:$NGX_UP_PORT" "$CPU_PROXY"
        CG_PID=$LLMUX_PID CG_PORT=$LLMUX_PORT
        cg_row() { # pid port label n body_file → "Ir requests_ok"
            local url=http://127.0.0.1:$2/v1/chat/completions hdr=${CG_AUTH:-X-Llmux-Session: bench}
            taskset -c "$CPU_LOAD" "$CLIENT" seq "$url" "$5" 50 -H "$hdr" >/dev/null || true
            callgrind_control -z "$1" >/dev/null 2>&1
            taskset -c "$CPU_LOAD" "$CLIENT" seq "$url" "$5" "$4" -H "$hdr" >"$T/cg/seq.out" || true
            callgrind_control --dump="$3" "$1" >/dev/null 2>&1
            local f="" ir="" i
            for ((i = 0; i < 50; i++)); do
                f=$(grep -l "^desc: Trigger: .*$3\$" "$T"/cg/*.* 2>/dev/null | tail -1 || true)
                [[ -n $f ]] && break
                sleep 0.2
            done
            [[ -n $f ]] && ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
            echo "${ir:-0} $(cut -d' ' -f2 "$T/cg/seq.out")"
        }
        sed 's/"model":"[^"]*"/"model":"openai\/gpt-4o-mini"/' "$BODY" >"$T/cg-oai.json"
        sed 's/"model":"[^"]*"/"model":"anthropic\/claude-haiku-4-5"/' "$BODY" >"$T/cg-an.json"
        read -r ir_oai ok_oai < <(cg_row "$CG_PID" "$CG_PORT" oai "$CG_N" "$T/cg-oai.json")
        read -r ir_an ok_an < <(cg_row "$CG_PID" "$CG_PORT" an "$CG_N" "$T/cg-an.json")
        stop "$CG_PID"
        LLMUX_WRAP="valgrind --tool=callgrind --callgrind-out-file=$T/cg/llmux.%p --dump-instr=no" \
            start_llmux "http://127.0.0.1:$MOCK_PORT" "$CPU_PROXY"
        CG_PID=$LLMUX_PID CG_PORT=$LLMUX_PORT
        echo '{"model":"openai/bench-cg","stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$T/cg-s.json"
        echo '{"model":"openai/bench-cg","stream":true,"stream_options":{"chunk_by_sentence":true},"messages":[{"role":"user","content":"Hi"}]}' >"$T/cg-ss.json"
        sn=$((CG_N / 10))
        read -r ir_s ok_s < <(cg_row "$CG_PID" "$CG_PORT" stream "$sn" "$T/cg-s.json")
        read -r ir_ss ok_ss < <(cg_row "$CG_PID" "$CG_PORT" sentence "$sn" "$T/cg-ss.json")
        stop "$CG_PID"
        # the nginx hop under callgrind, for scale
        hp_port=$(free_port)
        NGINX_WRAP="valgrind --tool=callgrind --callgrind-out-file=$T/cg/nginx.%p --dump-instr=no" \
            start_nginx_hop "$hp_port" "$NGX_UP_PORT" "$CPU_PROXY"
        read -r ir_hop ok_hop < <(CG_AUTH="Authorization: Bearer sk-bench" cg_row "$NGX_HOP_PID" "$hp_port" hop "$CG_N" "$BODY")
        stop "$NGX_HOP_PID"
        say ""
        say "callgrind (valgrind --tool=callgrind, instructions of the whole process incl. libcurl, libevent,"
        say "libc; not the kernel): per request after warm-up, one request at a time. Stable across runs."
        say "$(printf '%-44s %12s %10s %12s' row 'Ir/request' requests 'x nginx hop')"
        for row in "nginx proxy_pass hop|$ir_hop|$ok_hop" "llmux openai -> openai|$ir_oai|$ok_oai" \
            "llmux openai -> anthropic|$ir_an|$ok_an" \
            "llmux stream, 200 chunks|$ir_s|$ok_s" "llmux stream + chunk_by_sentence|$ir_ss|$ok_ss"; do
            IFS='|' read -r name ir ok <<<"$row"
            awk -v n="$name" -v ir="$ir" -v ok="$ok" -v hop="$ir_hop" -v okh="$ok_hop" 'BEGIN{
                per = ok>0 ? ir/ok : 0; ph = okh>0 ? hop/okh : 0
                extra = (n ~ /stream/ && per>0) ? sprintf("   (%d per chunk)", per/200) : ""
                printf "%-44s %12d %10d %12s%s\n", n, per, ok, (ph>0 && n !~ /stream/) ? sprintf("%.2f", per/ph) : "-", extra }' >>"$REPORT"
        done
    else
        say "callgrind: valgrind is not installed (scripts/bootstrap.sh --bench)"
    fi
fi

# ---- goals ------------------------------------------------------------------------------

say ""
say "== Goals (bench/README.md) =="
goal() { say "$(printf '%-64s %-24s %s' "$1" "$2" "$3")"; }
if has_part 1 && [[ -n ${RPS[ngx.hop]:-} ]]; then
    for k in llmux llmux_an; do
        v=$(awk -v p="${P50[ngx.$k]}" -v d="${P50[ngx.direct]}" -v h="${P50[ngx.hop]}" 'BEGIN{a=p-d; b=h-d; if (b<=0) b=1; printf "%.2f", a/b}')
        goal "${LABEL[$k]}: added p50 <= 1.5x nginx hop's" "$v x" "$(awk -v v="$v" 'BEGIN{print (v<=1.5)?"met":"NOT met"}')"
        v=$(awk -v p="${P99[ngx.$k]}" -v d="${P99[ngx.direct]}" -v h="${P99[ngx.hop]}" 'BEGIN{a=p-d; b=h-d; if (b<=0) b=1; printf "%.2f", a/b}')
        goal "${LABEL[$k]}: added p99 <= 1.5x nginx hop's" "$v x" "$(awk -v v="$v" 'BEGIN{print (v<=1.5)?"met":"NOT met"}')"
    done
    v=$(awk -v a="${EFF[ngx.llmux_an]}" -v b="${EFF[ngx.hop]}" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
    w=$(awk -v a="${RPS[ngx.llmux_an]}" -v b="${RPS[ngx.hop]}" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
    goal "one-core throughput with translation >= 0.7x nginx hop" "$v x (req/s: $w x)" "$(awk -v v="$v" 'BEGIN{print (v>=0.7)?"met":"NOT met"}')"
    if [[ -n ${RPS[ngx.peer]:-} ]]; then
        for k in "" _an; do
            v=$(awk -v a="${EFF[ngx.llmux$k]}" -v b="${EFF[ngx.peer$k]}" 'BEGIN{printf "%.1f", (b > 0 ? a / b : 0)}')
            w=$(awk -v a="${RPS[ngx.llmux$k]}" -v b="${RPS[ngx.peer$k]}" 'BEGIN{printf "%.1f", (b > 0 ? a / b : 0)}')
            goal "throughput >= 10x Portkey's (${LABEL[llmux$k]#llmux })" "$v x (req/s: $w x)" "$(awk -v v="$v" 'BEGIN{print (v>=10)?"met":"NOT met"}')"
        done
    else
        goal "throughput >= 10x Portkey's" "-" "not measured: ${SKIP[ngx.peer]:-?}"
    fi
fi
if has_part 4; then
    goal "RSS idle < 20 MB" "$((RSS_IDLE / 1024)) MB" "$( ((RSS_IDLE < 20480)) && echo met || echo 'NOT met')"
    last=${HOLDS[${#HOLDS[@]} - 1]}
    per=$(grep -F "$last streams open" "$REPORT" | awk '{print $(NF-1)}')
    goal "RSS < 30 KB per open stream ($last streams)" "${per:-?} KB" "$(awk -v v="${per:-999}" 'BEGIN{print (v<30)?"met":"NOT met"}')"
fi

cp "$REPORT" "$OUT" 2>/dev/null || true
log "done; the table is also in $OUT"
echo
cat "$REPORT"
