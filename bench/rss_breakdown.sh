#!/usr/bin/env bash
# bench/rss_breakdown.sh - where the peak RSS of a latency-bound list fetch goes (issue 14).
# Runs fetchpool get -j N, bench/bare_list -j N (one libcurl easy handle per thread and nothing else:
# the floor of this worker model) and wget2 --max-threads N over URLS delayed URLs (as latency_list.sh),
# reads /proc/PID/smaps every ~20 ms while each runs, and prints the sample with the highest total
# Rss split into: file-backed pages (the program and its shared libraries, mostly clean pages
# shared with the page cache), thread stacks (the anonymous mappings of the size most threads'
# stacks have), and heap (every other anonymous mapping: malloc arenas, [heap], mmap'd blocks).
# The per-worker figure is (stacks + heap) / N.
#   bench/rss_breakdown.sh            N = 500
#   JOBS_LIST="100 500" bench/rss_breakdown.sh
#   BY_FILE=1 bench/rss_breakdown.sh  also lists the file-backed pages per library
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URLS=${URLS:-2000}
read -r -a JOBS_LIST <<<"${JOBS_LIST:-500}"
read -r -a TOOLS <<<"${TOOLS:-fetchpool bare wget2}"
wants() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

bench_init
mkdir -p "$BENCH_TMP/www"
nginx_start "$BENCH_TMP/www" 2
list="$BENCH_TMP/urls.txt"
awk -v b="http://127.0.0.1:$NGINX_PORT" -v n="$URLS" 'BEGIN { for (i = 1; i <= n; i++) print b "/delay/" i }' >"$list"

# smaps_split FILE: "total files stacks heap stack_mappings" in KiB. Stacks: anonymous rw-p mappings
# of the most common anonymous size (each thread's stack is one mapping of the same size; the
# glibc arenas' heaps vary in size).
smaps_split() {
  awk '
    function hex(h,   v, i) { v = 0; for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
    /^[0-9a-f]+-[0-9a-f]+ / {
      split($1, r, "-"); size = hex(r[2]) - hex(r[1])
      name = (NF >= 6) ? $6 : ""; perm = $2; next
    }
    /^Rss:/ {
      n++; rss[n] = $2; nm[n] = name; sz[n] = size; pm[n] = perm
      if (name == "" && perm == "rw-p") count[size]++
    }
    END {
      best = 0; for (s in count) if (count[s] > best) { best = count[s]; stack = s }
      for (i = 1; i <= n; i++) {
        total += rss[i]
        if (nm[i] ~ /^\//) files += rss[i]
        else if (nm[i] == "" && pm[i] == "rw-p" && sz[i] == stack) stacks += rss[i]
        else if (nm[i] == "" || nm[i] == "[heap]") heap += rss[i]
      }
      printf "%d %d %d %d %d\n", total, files, stacks, heap, best
    }' "$1"
}

# by_file SMAPS: the file-backed Rss of that sample per file, largest first (BY_FILE=1): which
# libraries the pages belong to.
by_file() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : ""; next }
       /^Rss:/ && name ~ /^\// { rss[name] += $2 }
       END { for (f in rss) printf "%8d KiB  %s\n", rss[f], f }' "$1" | sort -rn | head -n "${BY_FILE_TOP:-25}"
}

# sample TOOL N CMD...: runs CMD in the background and keeps the smaps sample with the highest total.
sample() {
  local tool=$1 n=$2; shift 2
  local best_file="$BENCH_TMP/best.smaps" tmp="$BENCH_TMP/cur.smaps" best=0 total pid i
  local out="$BENCH_TMP/out"
  rm -rf "$out"; mkdir -p "$out"; : >"$best_file"
  (cd "$out" && exec "$@" >/dev/null 2>&1) &
  pid=$!
  for (( i = 0; i < 3000; i++ )); do   # bounded: 3000 x ~20 ms
    cat "/proc/$pid/smaps" >"$tmp" 2>/dev/null || break
    total=$(awk '/^Rss:/ { t += $2 } END { print t + 0 }' "$tmp")
    if (( total > best )); then best=$total; cp "$tmp" "$best_file"; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  wait "$pid" || true
  local t f s h m
  read -r t f s h m < <(smaps_split "$best_file")
  printf '%-10s %5s %9s %9s %9s %9s %12s\n' "$tool" "$n" "$(mib "$t")" "$(mib "$f")" "$(mib "$s")" "$(mib "$h")" \
    "$(awk -v a="$s" -v b="$h" -v n="$n" 'BEGIN { printf "%.1f", (a + b) / n }')"
  if [[ -n "${BY_FILE:-}" ]]; then by_file "$best_file"; fi
  rm -rf "$out"
}

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
bare_ok=0
if (( fetchpool_ok )) && wants bare && find_bare_list; then bare_ok=1; fi
echo "rss_breakdown: $URLS URLs x 0.1s, nginx on loopback; the highest sampled total of one run (KiB -> MiB)"
printf '%-10s %5s %9s %9s %9s %9s %12s\n' tool N total_MiB files_MiB stacks_MiB heap_MiB KiB/worker
for n in "${JOBS_LIST[@]}"; do
  if (( fetchpool_ok )) && wants fetchpool; then
    sample fetchpool "$n" "$FETCHPOOL" -q get -i "$list" -j "$n" --per-host 0 --progress none \
      "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/out/results.jsonl"
  fi
  if (( bare_ok )); then sample bare "$n" "$BARE_LIST" -i "$list" -j "$n"; fi
  if wants wget2; then
    if have wget2; then sample wget2 "$n" wget2 -q --max-threads="$n" -nd -i "$list"
    else echo "wget2: not installed - skipped"; fi
  fi
done
