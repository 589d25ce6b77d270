#!/usr/bin/env bash
# bench/warc_crawl.sh - what archiving costs: the crawl_site.sh site (gen_site.awk, ~10 KB HTML per
# page, 8 links each) served by a loopback nginx, crawled by fetchpool without and with
# --warc-file (JOBS threads, and one thread beside wget), and by wget 1.21 -r --warc-file (one
# thread: wget has no other). Figures per run: wall time, client CPU per page, pages archived
# (response records of text/html pages in the WARC; the results file for the plain crawl) and the
# output size (WARC + index; the results file for the plain crawl). All obey robots.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PAGES=${PAGES:-10000}
JOBS=${JOBS:-16}

bench_init
static_site_start "$PAGES"
www="$SITE_DIR"
seed="$SEED_URL"

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
site_mb=$(du -sm "$www" | cut -f1)
echo "warc_crawl: $PAGES pages (${site_mb} MB), best of $(repeats) runs"
printf '%-18s %4s %8s %9s %9s %14s %10s\n' tool N wall_s cpu_s us/page pages output_MiB

declare -A US_PER_PAGE=()

# Pages in the WARC files of DIR: response records whose target is an .html page.
count_warc() {
  local n=0 f
  for f in "$1"/*.warc.gz; do
    [[ -e "$f" ]] || continue
    n=$(( n + $(zcat "$f" | tr -d '\r' | awk '/^WARC-Type: response$/ { r = 1; next }
      r && /^WARC-Target-URI: / { if ($2 ~ /\.html>?$/) c++; r = 0 } END { print c + 0 }') ))
  done
  echo "$n"
}
count_jsonl() { grep '"ok":true' "$1/results.jsonl" 2>/dev/null | grep -c '\.html"' || true; }
# Bytes of the archive (WARC files and their index), or of the results file when there is none.
output_bytes() {
  local total=0 f
  for f in "$1"/*.warc.gz "$1"/*.cdxj "$1"/*.cdx; do
    if [[ -f "$f" ]]; then total=$(( total + $(stat -c %s "$f") )); fi
  done
  if (( total == 0 )) && [[ -f "$1/results.jsonl" ]]; then total=$(stat -c %s "$1/results.jsonl"); fi
  echo "$total"
}

# run_crawl TOOL N COUNTER -- CMD...: CMD runs in a fresh output directory $BENCH_TMP/out.
run_crawl() {
  local tool=$1 n=$2 counter=$3; shift 4
  local out="$BENCH_TMP/out" r size=0
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    rm -rf "$out"; mkdir -p "$out"
    cd "$out"
    measure "$tool" "$@"
    M_COUNT=$($counter "$out")
    size=$(output_bytes "$out")
    cd "$BENCH_TMP"
    best_update wall
  done
  rm -rf "$out"
  local us
  us=$(us_per "$B_CPU" "$B_COUNT")
  US_PER_PAGE[$tool]=$us
  printf '%-18s %4s %8s %9s %9s %14s %10s\n' "$tool" "$n" "$B_WALL" "$B_CPU" "$us" "$B_COUNT/$PAGES" \
    "$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')"
  record warc_crawl "$tool" "N=$n" "wall ${B_WALL}s, $us us/page ($B_COUNT/$PAGES pages)" "-"
}

out="$BENCH_TMP/out"
if (( fetchpool_ok )); then
  run_crawl fetchpool "$JOBS" count_jsonl -- "$FETCHPOOL" -q crawl "$seed" -j "$JOBS" --depth 1000 \
    --per-host "$JOBS" --progress none -o "$out/results.jsonl"
  run_crawl fetchpool-warc "$JOBS" count_warc -- "$FETCHPOOL" -q crawl "$seed" -j "$JOBS" --depth 1000 \
    --per-host "$JOBS" --progress none -o "$out/results.jsonl" --warc-file "$out/site"
  run_crawl fetchpool-warc-j1 1 count_warc -- "$FETCHPOOL" -q crawl "$seed" -j 1 --depth 1000 \
    --progress none -o "$out/results.jsonl" --warc-file "$out/site"
fi
if have wget; then
  # --delete-after: pages parsed for links, not kept (the WARC is the output); the log record off,
  # as fetchpool writes none; --warc-cdx: wget's own index beside it.
  run_crawl wget-warc 1 count_warc -- wget -q -r -l inf --no-parent --delete-after -P "$out/site" \
    --warc-file="$out/site" --warc-cdx --no-warc-keep-log "$seed"
else echo "wget: not installed - skipped (scripts/install-deps.sh --bench)"; fi

if [[ -n "${US_PER_PAGE[fetchpool]:-}" && -n "${US_PER_PAGE[fetchpool-warc]:-}" ]]; then
  echo "fetchpool --warc-file / plain CPU per page: $(ratio "${US_PER_PAGE[fetchpool-warc]}" "${US_PER_PAGE[fetchpool]}")x"
fi
if [[ -n "${US_PER_PAGE[fetchpool-warc]:-}" && -n "${US_PER_PAGE[wget-warc]:-}" ]]; then
  echo "fetchpool/wget CPU per page with --warc-file: $(ratio "${US_PER_PAGE[fetchpool-warc]}" "${US_PER_PAGE[wget-warc]}")x"
fi
