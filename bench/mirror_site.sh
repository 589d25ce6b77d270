#!/usr/bin/env bash
# bench/mirror_site.sh - what --mirror costs: a recursive crawl of a generated static site
# (gen_site.awk; default 5,000 pages of ~10 KB) served by a loopback nginx (which sends ETag and
# Last-Modified and answers conditional requests), one run each of
#   fetchpool crawl (plain, results only), crawl --mirror DIR, --mirror --convert-links, and a
#   rerun into the same DIR (conditional requests: every page 304);
#   wget --mirror (GNU wget 1.21, one connection: it has no parallel mode), wget --mirror -k, and
#   its rerun (-N: If-Modified-Since).
# Figures per run: wall time, client CPU (user+sys), CPU per page, pages reached and files written
# (files whose mtime the run changed, results and index files not counted). fetchpool runs -j
# $JOBS; wget cannot, so compare CPU per page, not wall time, across the two.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PAGES=${PAGES:-5000}
JOBS=${JOBS:-4}

bench_init
static_site_start "$PAGES"
www="$SITE_DIR"
host="127.0.0.1:$NGINX_PORT"
seed="http://$host/index.html"

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
echo "mirror_site: $PAGES pages, fetchpool -j $JOBS, wget 1 connection, seed $seed, one run each"
printf '%-26s %8s %8s %9s %7s %7s\n' run wall_s cpu_s us/page pages files

# files_written DIR MARKER: regular files under DIR written after MARKER was made. The status
# change time, not the mtime: wget -N gives each file the server's Last-Modified.
files_written() {
  find "$1" -type f -cnewer "$2" ! -name results.jsonl ! -name .fetchpool-mirror.jsonl | wc -l
}

# one NAME DIR PAGES_COUNTER -- CMD...: one measured run; DIR holds its output.
one() {
  local name=$1 dir=$2 counter=$3; shift 4
  mkdir -p "$dir"
  local marker="$BENCH_TMP/marker.$name"
  touch "$marker"
  sleep 0.01   # a file written in the same clock tick as the marker would not count as newer
  measure "$name" "$@"
  local pages files
  pages=$($counter "$dir")
  files=$(files_written "$dir" "$marker")
  printf '%-26s %8s %8s %9s %7s %7s\n' "$name" "$M_WALL" "$M_CPU" "$(us_per "$M_CPU" "$pages")" "$pages" "$files"
  record mirror_site "$name" "-j ${JOBS}" "wall ${M_WALL}s, $(us_per "$M_CPU" "$pages") us/page, $pages pages, $files files written" "-"
}

# Pages a fetchpool run reached: HTML answers that were fetched (200) or confirmed (304).
count_records() { grep -E '"status":(200|304)' "$1/results.jsonl" 2>/dev/null | grep -c '\.html"' || true; }
# HTML pages a wget run downloaded, from its -nv log (a 304 leaves no line there).
count_wget_log() { grep -c 'URL:.*\.html \[' "$1.log" || true; }

if (( fetchpool_ok )); then
  fp=("$FETCHPOOL" -q crawl "$seed" -j "$JOBS" --per-host "$JOBS" --depth 1000 --progress none)
  out="$BENCH_TMP/fp-plain"
  one "fetchpool plain" "$out" count_records -- "${fp[@]}" -o "$out/results.jsonl"
  out="$BENCH_TMP/fp-mirror"
  one "fetchpool --mirror" "$out" count_records -- "${fp[@]}" -o "$out/results.jsonl" --mirror "$out"
  one "fetchpool --mirror rerun" "$out" count_records -- "${fp[@]}" -o "$out/results.jsonl" --mirror "$out"
  echo "  rerun: $(grep -c '"status":304' "$out/results.jsonl" || true) answers 304"
  out="$BENCH_TMP/fp-convert"
  one "fetchpool --mirror -conv" "$out" count_records -- "${fp[@]}" -o "$out/results.jsonl" --mirror "$out" \
    --convert-links
  rm -rf "$BENCH_TMP"/fp-*
fi
if have wget; then
  out="$BENCH_TMP/wget-mirror"
  one "wget --mirror" "$out" count_wget_log -- wget -nv -o "$out.log" -m -np -P "$out" "$seed"
  # wget 1.21 gets 304 for the seed and stops there: it does not follow the kept copy's links.
  one "wget --mirror rerun" "$out" count_wget_log -- wget -nv -o "$out.log" -m -np -P "$out" "$seed"
  out="$BENCH_TMP/wget-convert"
  one "wget --mirror -k" "$out" count_wget_log -- wget -nv -o "$out.log" -m -np -k -P "$out" "$seed"
  rm -rf "$BENCH_TMP"/wget-*
else echo "wget: not installed - skipped (scripts/install-deps.sh --bench)"; fi
