#!/usr/bin/env bash
# The hyper hello-world of benches/compare/http.rs on looplet, tokio and smol, loaded by wrk:
# requests/s and p99 latency at 1, 50 and 256 connections, server CPU per request, and
# server syscalls per request. The server is pinned to core 0 and wrk to core 1 (taskset);
# the runtimes are interleaved, ROUNDS rounds of DURATION each.
#
#   benches/http.sh                          # 3 rounds of 10 s (about 5 minutes)
#   ROUNDS=1 DURATION=3 benches/http.sh      # a quick look
#
# Needs wrk (Debian: apt-get install wrk), strace and taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
conns=(${CONNS:-1 50 256})
runtimes=(looplet tokio smol)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
bin=$(cargo bench -p looplet-bench --bench http --no-run 2>&1 | grep -oE 'target/release/deps/http-[0-9a-f]+' | tail -1)
port=18080
out=$(mktemp -d)

start() { # runtime [prefix...] -> pid
    local runtime=$1; shift
    "$@" "$bin" "$runtime" "$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "$pid"; return; fi
        sleep 0.05
    done
    echo "the $runtime server did not start" >&2; exit 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "# hyper hello-world, wrk -t1, $rounds round(s) of ${duration}s, server on core 0, wrk on core 1"
for round in $(seq "$rounds"); do
    for c in "${conns[@]}"; do
        for runtime in "${runtimes[@]}"; do
            pid=$(start "$runtime" taskset -c 0)
            # A short warm-up, then the measured run.
            taskset -c 1 wrk -t1 -c"$c" -d1s "http://127.0.0.1:$port/" >/dev/null
            before=$(cpu_ticks "$pid")
            taskset -c 1 wrk -t1 -c"$c" -d"${duration}s" --latency "http://127.0.0.1:$port/" >"$out/wrk"
            after=$(cpu_ticks "$pid")
            kill "$pid"; wait "$pid" 2>/dev/null || true
            rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrk")
            p99=$(awk '$1 == "99%" {print $2}' "$out/wrk")
            total=$(awk '/requests in/ {print $1}' "$out/wrk")
            cpu_us=$(awk -v t=$((after - before)) -v n="$total" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
            echo "round $round c=$c $runtime rps=$rps p99=$p99 cpu_us_per_req=$cpu_us"
        done
    done
done | tee "$out/runs"

echo
echo "# syscalls per request (strace -f on the server, wrk -c50 for 3 s, no pinning)"
for runtime in "${runtimes[@]}"; do
    pid=$(start "$runtime" strace -f -qq -c -o "$out/strace.$runtime")
    wrk -t1 -c50 -d3s "http://127.0.0.1:$port/" >"$out/wrk"
    # Stop the server (strace's child); strace then writes its summary and exits.
    pkill -TERM -P "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    total=$(awk '/requests in/ {print $1}' "$out/wrk")
    calls=$(awk '$NF == "total" {print $4}' "$out/strace.$runtime")
    echo "$runtime syscalls_per_req=$(awk -v c="$calls" -v n="$total" 'BEGIN { printf "%.2f", c / n }') ($calls calls, $total requests)"
done

echo
echo "# medians over the rounds"
for c in "${conns[@]}"; do
    for runtime in "${runtimes[@]}"; do
        grep " c=$c $runtime " "$out/runs" | sed 's/.*rps=\([0-9.]*\).*p99=\([^ ]*\).*cpu_us_per_req=\([0-9.]*\)/\1 \2 \3/' |
            sort -n | awk -v c="$c" -v r="$runtime" '{ rps[NR] = $1; p99[NR] = $2; cpu[NR] = $3 }
                END { m = int((NR + 1) / 2); printf "c=%-4s %-8s %10s req/s  p99 %-8s  cpu/req %s us\n", c, r, rps[m], p99[m], cpu[m] }'
    done
done
rm -rf "$out"
