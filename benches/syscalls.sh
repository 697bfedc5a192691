#!/usr/bin/env bash
# Syscalls per echoed message on the server thread, counted with strace, for one runtime.
#
#   benches/syscalls.sh looplet      # or tokio, or smol
#   BENCH_FEATURES=looplet/polling benches/syscalls.sh looplet   # looplet's polling backend
#   LOOPLET_BENCH_ECHO=1,20000 benches/syscalls.sh looplet        # a one-connection ping-pong
#
# Runs the quick echo workload (100 connections x 1,000 messages, or LOOPLET_BENCH_ECHO's
# conns,rounds) of benches/compare under `strace -f`, and prints the syscalls of the thread
# that runs the server (the main thread; the blocking client runs on a thread of its own), per
# message, by name.
set -euo pipefail
runtime=${1:?usage: benches/syscalls.sh looplet|tokio|smol}
cd "$(dirname "$0")/.."
features=()
if [ -n "${BENCH_FEATURES:-}" ]; then features=(--features "$BENCH_FEATURES"); fi
bin=$(cargo bench -p looplet-bench "${features[@]}" --bench compare --no-run 2>&1 | grep -oE 'target/release/deps/compare-[0-9a-f]+' | tail -1)
trace=$(mktemp)
LOOPLET_BENCH_QUICK=1 LOOPLET_BENCH_RUNTIMES="$runtime" strace -f -qq -o "$trace" "$bin" echo >/dev/null
main=$(head -1 "$trace" | awk '{print $1}')
echo_size=${LOOPLET_BENCH_ECHO:-100,1000}
messages=$(( ${echo_size%,*} * ${echo_size#*,} ))
awk -v main="$main" -v n="$messages" '
    $1 == main && $2 ~ /^[a-z_0-9]+\(/ { split($2, call, "("); count[call[1]]++; total++ }
    END {
        for (name in count) if (count[name] / n >= 0.001) printf "%-16s %6.3f\n", name, count[name] / n
        printf "%-16s %6.3f\n", "total", total / n
    }' "$trace" | sort -k2 -rn
rm -f "$trace"
