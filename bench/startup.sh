#!/usr/bin/env bash
# bench/startup.sh - what starting fetchpool costs before any work: the peak RSS and CPU of
# `fetchpool --version` (dynamic loading, relocation, static constructors, the CLI set-up), the
# instructions callgrind counts for it (load-independent, so comparable on a busy machine), and the
# shared libraries it loads. Give other binaries (e.g. a build of main) to print them side by side;
# wget2 --version is printed as the peer when installed.
#   bench/startup.sh                         the fetchpool found as in lib.sh
#   bench/startup.sh OTHER/fetchpool ...     these binaries too
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-15}
find_fetchpool
binaries=()
if [[ -n "$FETCHPOOL" ]]; then binaries+=("$FETCHPOOL"); fi
binaries+=("$@")
if command -v wget2 >/dev/null; then binaries+=("$(command -v wget2)"); fi
(( ${#binaries[@]} > 0 )) || bench_die "no fetchpool binary found and none given"

# peak_rss BINARY: "median (min-max)" KiB of RUNS runs of BINARY --version.
peak_rss() {
  local i
  for (( i = 0; i < RUNS; i++ )); do
    /usr/bin/time -f '%M' "$1" --version 2>&1 >/dev/null | tail -n 1
  done | sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# cpu_ms BINARY: mean task-clock ms of RUNS runs (perf; /usr/bin/time only counts in 10 ms steps).
cpu_ms() {
  if ! command -v perf >/dev/null; then echo "-"; return; fi
  perf stat -r "$RUNS" -x, -e task-clock "$1" --version 2>&1 >/dev/null |
    awk -F, '/task-clock/ { printf "%.2f", $1 }'
}

instructions() {
  if ! command -v valgrind >/dev/null; then echo "-"; return; fi
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --version 2>&1 >/dev/null |
    awk '/Collected/ { printf "%.1fM", $4 / 1e6 }'
}

printf '%-40s %-22s %8s %12s %6s\n' binary "peak RSS KiB (med)" "CPU ms" instructions libs
for b in "${binaries[@]}"; do
  [[ -x "$b" ]] || bench_die "$b: not an executable"
  printf '%-40s %-22s %8s %12s %6s\n' "$b" "$(peak_rss "$b")" "$(cpu_ms "$b")" "$(instructions "$b")" \
    "$(ldd "$b" | grep -c '=>')"
done
