#!/usr/bin/env bash
# bench/instructions.sh - user-space instructions per request and per crawled page, counted by
# valgrind's callgrind: exact counts that do not move with the machine's load, so the ratios to wget2
# and to the bare libcurl loop hold even where a timed run is noise (shared 2-core machines).
#
# Per request = (instructions of a run over URLS files - those of a run over URLS/10) / (the
# difference in requests): start-up, library loading and the first connection cancel out. The same
# for the crawl, over two copies of the crawl_site.sh site (PAGES and PAGES/10 pages) on one nginx.
#
# Rows: fetchpool `get` and `crawl`; bare and bare+hdr (build/bench/bare_list: one reused libcurl easy
# handle per thread and nothing else, the second sending fetchpool's request head byte for byte); wget2.
# LIBCURL_DIRS="DIR ..." adds fetchpool and bare+hdr rows run against each other libcurl.so.4 found in
# DIR (LD_LIBRARY_PATH; the ABI is the same), e.g. one unpacked from bookworm-backports.
# Environment: URLS (default 2000), PAGES (default 2000), JOBS (threads, default 1: callgrind runs
# one thread at a time anyway), FETCHPOOL, BARE_LIST, LIBCURL_DIRS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URLS=${URLS:-2000}
PAGES=${PAGES:-2000}
JOBS=${JOBS:-1}
(( URLS >= 20 && PAGES >= 20 )) || bench_die "URLS and PAGES must be at least 20"
have valgrind || bench_die "valgrind not installed (run scripts/install-deps.sh --bench)"

bench_init
www="$BENCH_TMP/www"
small_files_write "$www/list" "$URLS"
small_pages=$(( PAGES / 10 ))
awk -v root="$www/big" -v pages="$PAGES" -v bytes=10240 -f "$BENCH_DIR/gen_site.awk"
awk -v root="$www/small" -v pages="$small_pages" -v bytes=10240 -f "$BENCH_DIR/gen_site.awk"
nginx_start "$www" 1
base="http://127.0.0.1:$NGINX_PORT"
small_urls=$(( URLS / 10 ))
awk -v b="$base" -v n="$URLS" 'BEGIN { for (i = 1; i <= n; i++) print b "/list/" i ".txt" }' >"$BENCH_TMP/big.txt"
awk -v b="$base" -v n="$small_urls" 'BEGIN { for (i = 1; i <= n; i++) print b "/list/" i ".txt" }' >"$BENCH_TMP/small.txt"

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
bare_ok=0
if (( fetchpool_ok )) && find_bare_list; then bare_ok=1; fi
default_ua=$(awk -F'"' '/^user_agent *=/ { print $2; exit }' "$REPO_DIR/config/default.toml")
fetchpool_head=(-H "User-Agent: ${default_ua:-fetchpool}" -H "Accept-Encoding: gzip, deflate")
echo "instructions: callgrind, $URLS - $small_urls list URLs (~1 KB), $PAGES - $small_pages crawl pages (~10 KB), $JOBS thread(s), nginx at $base"

# count_run OUT_DIR LIB_DIR CMD...: runs CMD under callgrind in OUT_DIR (LIB_DIR, if not empty, goes
# first in LD_LIBRARY_PATH); prints the instructions of the whole process (all threads).
count_run() {
  local dir=$1 libdir=$2; shift 2
  local cg="$BENCH_TMP/callgrind.out"
  rm -rf "$dir" "$cg"; mkdir -p "$dir"
  (
    cd "$dir"
    if [[ -n "$libdir" ]]; then export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
    timeout -k 5 "${BENCH_CMD_TIMEOUT:-600}" valgrind --tool=callgrind --callgrind-out-file="$cg" "$@" \
      >"$BENCH_TMP/cmd.out" 2>"$BENCH_TMP/cmd.err"
  ) || echo "bench: $* exited with status $?" >&2
  awk '/^summary:/ { print $2; found = 1 } END { if (!found) print 0 }' "$cg" 2>/dev/null || echo 0
}

declare -A PER_UNIT=()
printf '%-22s %8s %14s %14s %12s %12s\n' tool unit instr_small instr_big per_unit fetched
# row NAME UNIT COUNTER BIG_N SMALL_N LIB_DIR -- CMD... (CMD's @SET@ stands for big or small)
row() {
  local name=$1 unit=$2 counter=$3 big_n=$4 small_n=$5 libdir=$6; shift 7
  local out="$BENCH_TMP/out" small big done_big per
  small=$(count_run "$out" "$libdir" "${@//@SET@/small}")
  big=$(count_run "$out" "$libdir" "${@//@SET@/big}")
  done_big=$($counter "$out")
  per=$(awk -v a="$small" -v b="$big" -v n=$(( big_n - small_n )) 'BEGIN { if (a > 0 && b > a) printf "%.0f", (b - a) / n; else print "-" }')
  PER_UNIT[$name]=$per
  printf '%-22s %8s %14s %14s %12s %12s\n' "$name" "$unit" "$small" "$big" "$per" "$done_big/$big_n"
  record instructions "$name" "per $unit" "$per instructions" "-"
}

count_list_jsonl() { grep -c '"ok":true' "$1/results.jsonl" 2>/dev/null || echo 0; }
count_crawl_jsonl() { grep '"ok":true' "$1/results.jsonl" 2>/dev/null | grep -c '\.html"' || true; }
count_bare_summary() { count_bare "$1/bare.txt"; }
count_wget2_list() { awk -F, 'NR > 1 && $4 == 200 && $3 ~ /\.txt$/' "$1/stats.csv" 2>/dev/null | wc -l; }
count_wget2_crawl() { awk -F, 'NR > 1 && $4 == 200 && $3 ~ /\.html$/' "$1/stats.csv" 2>/dev/null | wc -l; }
out="$BENCH_TMP/out"

libcurl_version() {  # LIB_DIR: the libcurl that bare_list runs on there (LD_LIBRARY_PATH; "" = the system's)
  local v=""
  if (( bare_ok )); then v=$(LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BARE_LIST" --version 2>/dev/null || true); fi
  echo "${v%% *}"
}

lib_rows() {  # LIB_DIR SUFFIX
  local libdir=$1 suffix=$2
  if (( fetchpool_ok )); then
    row "fetchpool get$suffix" request count_list_jsonl "$URLS" "$small_urls" "$libdir" -- \
      "$FETCHPOOL" -q get -i "$BENCH_TMP/@SET@.txt" -j "$JOBS" --per-host 0 --progress none "$FETCHPOOL_RESULTS_OPT" "$out/results.jsonl"
  fi
  if (( bare_ok )); then
    row "bare+hdr$suffix" request count_bare_summary "$URLS" "$small_urls" "$libdir" -- \
      "$BARE_LIST" -i "$BENCH_TMP/@SET@.txt" -j "$JOBS" -o "$out/bare.txt" "${fetchpool_head[@]}"
  fi
}

echo "libcurl: $(libcurl_version "") (system)"
lib_rows "" ""
if (( bare_ok )); then
  row bare request count_bare_summary "$URLS" "$small_urls" "" -- "$BARE_LIST" -i "$BENCH_TMP/@SET@.txt" -j "$JOBS" -o "$out/bare.txt"
fi
if have wget2; then
  row "wget2 list" request count_wget2_list "$URLS" "$small_urls" "" -- \
    wget2 -q --max-threads="$JOBS" -O /dev/null -i "$BENCH_TMP/@SET@.txt" --stats-site="csv:$out/stats.csv"
else echo "wget2: not installed - skipped"; fi
if (( fetchpool_ok )); then
  row "fetchpool crawl" page count_crawl_jsonl "$PAGES" "$small_pages" "" -- \
    "$FETCHPOOL" -q crawl "$base/@SET@/index.html" -j "$JOBS" --depth 1000 --progress none -o "$out/results.jsonl"
fi
if have wget2; then
  row "wget2 crawl" page count_wget2_crawl "$PAGES" "$small_pages" "" -- \
    wget2 -q -r -l inf --no-parent --max-threads="$JOBS" --delete-after -P "$out/site" \
    --stats-site="csv:$out/stats.csv" "$base/@SET@/index.html"
fi
for libdir in ${LIBCURL_DIRS:-}; do
  [[ -e "$libdir/libcurl.so.4" ]] || { echo "LIBCURL_DIRS: no libcurl.so.4 in $libdir - skipped"; continue; }
  version=$(libcurl_version "$libdir")
  echo "libcurl: $version from $libdir"
  lib_rows "$libdir" " ${version#libcurl/}"
done

show_ratio() {  # LABEL A B
  if [[ "${PER_UNIT[$2]:--}" != "-" && "${PER_UNIT[$3]:--}" != "-" ]]; then
    echo "$1: $(ratio "${PER_UNIT[$2]}" "${PER_UNIT[$3]}")x"
  fi
}
show_ratio "fetchpool/wget2 instructions per request" "fetchpool get" "wget2 list"
show_ratio "bare+hdr/wget2 instructions per request (libcurl alone, same request head)" "bare+hdr" "wget2 list"
show_ratio "fetchpool/bare+hdr instructions per request (what fetchpool adds)" "fetchpool get" "bare+hdr"
show_ratio "fetchpool/wget2 instructions per crawled page" "fetchpool crawl" "wget2 crawl"
