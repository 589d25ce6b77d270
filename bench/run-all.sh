#!/usr/bin/env bash
# bench/run-all.sh - runs the benchmarks one after another (each prints its own table as it
# goes), then one combined table of fetchpool's and the peers' figures with the targets.
#   bench/run-all.sh [--big]        --big is passed to downloads.sh (adds 1 x 1 GiB)
# Environment: FETCHPOOL=path/to/binary, BENCH_REPEAT (runs per tool, best kept; default 2),
# BENCH_TMPDIR (default /dev/shm), BENCH_CMD_TIMEOUT (seconds per tool run; default 150).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

download_args=()
for arg in "$@"; do
  case "$arg" in
    --big) download_args+=(--big) ;;
    -h|--help) echo "usage: $0 [--big]"; exit 0 ;;
    *) echo "run-all.sh: unknown argument '$arg' (only --big)" >&2; exit 2 ;;
  esac
done

BENCH_RESULTS=$(mktemp "${TMPDIR:-/tmp}/fetchpool-bench-results.XXXXXX")
export BENCH_RESULTS
trap 'rm -f -- "$BENCH_RESULTS"' EXIT

failed=()
run() {
  local script=$1; shift
  echo "=== $script"
  local t0 t1
  t0=$(date +%s)
  if ! "$here/$script" "$@"; then failed+=("$script"); fi
  t1=$(date +%s)
  echo "=== $script took $(( t1 - t0 )) s"
  echo
}

run latency_list.sh
run cpu_per_request.sh
run instructions.sh
run crawl_site.sh
run mirror_site.sh
run warc_crawl.sh
run downloads.sh "${download_args[@]}"
run memory_per_url.sh

echo "=== combined ($(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
awk -F'\t' '
  { for (i = 1; i <= 5; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
  END {
    split("benchmark tool params figure target", head, " ")
    for (i = 1; i <= 5; i++) if (length(head[i]) > w[i]) w[i] = length(head[i])
    fmt = "%-" w[1] "s  %-" w[2] "s  %-" w[3] "s  %-" w[4] "s  %s\n"
    printf fmt, head[1], head[2], head[3], head[4], head[5]
    for (r = 1; r <= NR; r++) {
      if (r > 1 && cell[r, 1] != cell[r - 1, 1]) print ""
      printf fmt, cell[r, 1], cell[r, 2], cell[r, 3], cell[r, 4], cell[r, 5]
    }
  }' "$BENCH_RESULTS"

if (( ${#failed[@]} > 0 )); then
  echo "run-all: failed: ${failed[*]}" >&2
  exit 1
fi
