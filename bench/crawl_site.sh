#!/usr/bin/env bash
# bench/crawl_site.sh - recursive crawl of a 20,000-page static site (~10 KB HTML per page, 8
# relative links each, all reachable from index.html; made by gen_site.awk) served by a loopback
# nginx at zero latency. fetchpool crawl vs wget2 -r -l inf --no-parent with the same thread
# count (default 16), both obeying robots.txt (which allows everything). Figures: wall time,
# pages/s and client CPU per page. wget2 discards pages after parsing them (--delete-after), as
# fetchpool crawl keeps no bodies; both write one record per page (JSONL / --stats-site CSV).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PAGES=${PAGES:-20000}
JOBS=${JOBS:-16}

bench_init
static_site_start "$PAGES"
www="$SITE_DIR"
seed="$SEED_URL"

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
site_mb=$(du -sm "$www" | cut -f1)
echo "crawl_site: $PAGES pages (${site_mb} MB), $JOBS threads, seed $seed, best of $(repeats) runs"
printf '%-10s %4s %8s %8s %8s %9s %14s %8s\n' tool N wall_s pages/s cpu_s us/page pages rss_MiB

declare -A US_PER_PAGE=()

# run_crawl TOOL COUNTER -- CMD...: COUNTER DIR prints the pages fetched by the run just done.
run_crawl() {
  local tool=$1 counter=$2; shift 3
  local out="$BENCH_TMP/out" r
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    rm -rf "$out"; mkdir -p "$out"
    cd "$out"
    measure "$tool" "$@"
    M_COUNT=$($counter "$out")
    cd "$BENCH_TMP"
    best_update wall
  done
  rm -rf "$out"
  local us pps
  us=$(us_per "$B_CPU" "$B_COUNT")
  pps=$(per_s "$B_COUNT" "$B_WALL")
  US_PER_PAGE[$tool]=$us
  printf '%-10s %4s %8s %8s %8s %9s %14s %8s\n' "$tool" "$JOBS" "$B_WALL" "$pps" "$B_CPU" "$us" "$B_COUNT/$PAGES" "$(mib "$B_RSS")"
  record crawl_site "$tool" "N=$JOBS" "wall ${B_WALL}s, $us us/page, $pps pages/s ($B_COUNT/$PAGES pages)" "-"
}

count_jsonl() { grep '"ok":true' "$1/results.jsonl" 2>/dev/null | grep -c '\.html"' || true; }
count_wget2_csv() { awk -F, 'NR > 1 && $4 == 200 && $3 ~ /\.html$/' "$1/stats.csv" 2>/dev/null | wc -l; }

if (( fetchpool_ok )); then
  # FETCHPOOL_ARGS: extra crawl flags, e.g. "--html-parser gumbo" to measure the tree parser.
  # shellcheck disable=SC2086
  run_crawl fetchpool count_jsonl -- "$FETCHPOOL" -q crawl "$seed" -j "$JOBS" --depth 1000 --per-host "$JOBS" ${FETCHPOOL_ARGS:-} \
    --progress none -o "$BENCH_TMP/out/results.jsonl"
fi
if have wget2; then
  run_crawl wget2 count_wget2_csv -- wget2 -q -r -l inf --no-parent --max-threads="$JOBS" --delete-after \
    -P "$BENCH_TMP/out/site" --stats-site="csv:$BENCH_TMP/out/stats.csv" "$seed"
else echo "wget2: not installed - skipped"; fi

if [[ -n "${US_PER_PAGE[fetchpool]:-}" && -n "${US_PER_PAGE[wget2]:-}" ]]; then
  echo "fetchpool/wget2 CPU per page: $(ratio "${US_PER_PAGE[fetchpool]}" "${US_PER_PAGE[wget2]}")x"
fi
