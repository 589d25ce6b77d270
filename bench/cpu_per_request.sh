#!/usr/bin/env bash
# bench/cpu_per_request.sh - client CPU cost per request: 20,000 distinct ~1 KB static files from a
# loopback nginx at zero latency, fetched as a list with N workers (default 16). Figure: user+sys
# CPU of the client process tree / requests, in microseconds (and its user and system parts),
# plus requests per second.
# wrk (one URL, -c N, 5 s) is the floor: the cheapest possible HTTP/1.1 client loop; bare
# (bench/bare_list) the floor of the worker model: one libcurl easy handle per thread, nothing else;
# bare+hdr the same loop sending fetchpool's request head byte for byte (its User-Agent and
# Accept-Encoding), which libcurl 7.88 prints at about a hundred instructions a byte.
# Bodies are discarded where the tool allows it (fetchpool keeps none, wget2 -O /dev/null,
# curl output=/dev/null); aria2c cannot discard, so it writes to a tmpfs temp dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FILES=${FILES:-20000}
JOBS=${JOBS:-16}
WRK_SECONDS=${WRK_SECONDS:-5}

bench_init
www="$BENCH_TMP/www"
small_files_write "$www" "$FILES"
nginx_start "$www" 1
base="http://127.0.0.1:$NGINX_PORT"
list="$BENCH_TMP/urls.txt"
curl_cfg="$BENCH_TMP/urls.curl"
awk -v b="$base" -v n="$FILES" 'BEGIN { for (i = 1; i <= n; i++) print b "/" i ".txt" }' >"$list"
awk '{ print "url = \"" $0 "\""; print "output = \"/dev/null\"" }' "$list" >"$curl_cfg"

target() {
  case "$1" in
    fetchpool) echo "<=21" ;;
    wget2) echo "ref 21" ;;
    curl) echo "ref 37" ;;
    aria2c) echo "ref 149" ;;
    wrk) echo "floor" ;;
    *) echo "-" ;;
  esac
}

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
echo "cpu_per_request: $FILES x 1 KB static files, $JOBS workers, nginx at $base, best of $(repeats) runs (least CPU)"
printf '%-10s %4s %8s %8s %8s %8s %8s %8s %9s %12s %8s\n' tool N wall_s req/s cpu_s us/req usr_us sys_us target \
  fetched rss_MiB

declare -A US_PER_REQ=()

report() {
  local tool=$1 requests=$2 fetched_col=$3
  local us rps
  us=$(us_per "$B_CPU" "$requests")
  rps=$(per_s "$requests" "$B_WALL")
  US_PER_REQ[$tool]=$us
  printf '%-10s %4s %8s %8s %8s %8s %8s %8s %9s %12s %8s\n' "$tool" "$JOBS" "$B_WALL" "$rps" "$B_CPU" "$us" \
    "$(us_per "$B_USER" "$requests")" "$(us_per "$B_SYS" "$requests")" "$(target "$tool")" "$fetched_col" "$(mib "$B_RSS")"
  record cpu_per_request "$tool" "N=$JOBS" "$us us/req, $rps req/s ($fetched_col ok)" "$(target "$tool")"
}

# run_list TOOL COUNTER -- CMD...: COUNTER prints the successful fetches of the run just done.
run_list() {
  local tool=$1 counter=$2; shift 3
  local out="$BENCH_TMP/out" r
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    rm -rf "$out"; mkdir -p "$out"
    cd "$out"
    measure "$tool" "$@"
    M_COUNT=$($counter "$out")
    cd "$BENCH_TMP"
    best_update cpu
  done
  rm -rf "$out"
  report "$tool" "$FILES" "$B_COUNT/$FILES"
}

count_jsonl() { grep -c '"ok":true' "$1/results.jsonl" 2>/dev/null || true; }
count_files() { find "$1" -type f -name '*.txt' | wc -l; }
count_wget2_csv() { awk -F, 'NR > 1 && $4 == 200 && $3 ~ /\.txt$/' "$1/stats.csv" 2>/dev/null | wc -l; }
count_bare_summary() { count_bare "$1/bare.txt"; }
count_curl_codes() { grep -c '^200$' "$1/codes.txt" 2>/dev/null || true; }

if (( fetchpool_ok )); then
  run_list fetchpool count_jsonl -- "$FETCHPOOL" -q get -i "$list" -j "$JOBS" --per-host 0 --progress none \
    "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/out/results.jsonl"
fi
if (( fetchpool_ok )) && find_bare_list; then
  run_list bare count_bare_summary -- "$BARE_LIST" -i "$list" -j "$JOBS" -o "$BENCH_TMP/out/bare.txt"
  # fetchpool's own request head adds these two fields to libcurl's: the default http.user_agent
  # of config/default.toml, and Accept-Encoding (http.compressed = true offers gzip and deflate).
  default_ua=$(awk -F'"' '/^user_agent *=/ { print $2; exit }' "$REPO_DIR/config/default.toml")
  run_list bare+hdr count_bare_summary -- "$BARE_LIST" -i "$list" -j "$JOBS" -o "$BENCH_TMP/out/bare.txt" \
    -H "User-Agent: ${default_ua:-fetchpool}" -H "Accept-Encoding: gzip, deflate"
fi
if have wget2; then
  run_list wget2 count_wget2_csv -- wget2 -q --max-threads="$JOBS" -O /dev/null -i "$list" \
    --stats-site="csv:$BENCH_TMP/out/stats.csv"
else echo "wget2: not installed - skipped"; fi
if have curl; then
  # exec: bash only sets up the redirection of curl's per-transfer status line, then becomes curl.
  run_list curl count_curl_codes -- bash -c 'exec "$@" >"$0"' "$BENCH_TMP/out/codes.txt" \
    curl -s --no-progress-meter -Z --parallel-max "$JOBS" -w '%{response_code}\n' -K "$curl_cfg"
else echo "curl: not installed - skipped"; fi
if have aria2c; then
  run_list aria2c count_files -- aria2c -q -j "$JOBS" -i "$list" --file-allocation=none \
    --auto-file-renaming=false --allow-overwrite=true --summary-interval=0 --console-log-level=error
else echo "aria2c: not installed - skipped"; fi
if have wrk; then
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    measure wrk wrk -t1 -c"$JOBS" -d"${WRK_SECONDS}s" "$base/1.txt" >"$BENCH_TMP/wrk.out"
    M_COUNT=$(awk '/ requests in / { print $1 }' "$BENCH_TMP/wrk.out")
    best_update cpu
  done
  # wrk runs for a fixed time: per-request figures use its own request count.
  report wrk "${B_COUNT:-0}" "${B_COUNT:-0} reqs"
else echo "wrk: not installed - skipped"; fi

if [[ -n "${US_PER_REQ[fetchpool]:-}" && -n "${US_PER_REQ[wget2]:-}" ]]; then
  echo "fetchpool/wget2 CPU per request: $(ratio "${US_PER_REQ[fetchpool]}" "${US_PER_REQ[wget2]}")x"
fi
if [[ -n "${US_PER_REQ[bare]:-}" && -n "${US_PER_REQ[wget2]:-}" ]]; then
  echo "bare libcurl worker loop/wget2 CPU per request: $(ratio "${US_PER_REQ[bare]}" "${US_PER_REQ[wget2]}")x (the floor of one easy handle per thread)"
fi
if [[ -n "${US_PER_REQ[fetchpool]:-}" && -n "${US_PER_REQ[bare+hdr]:-}" ]]; then
  echo "fetchpool/bare+hdr CPU per request: $(ratio "${US_PER_REQ[fetchpool]}" "${US_PER_REQ[bare+hdr]}")x (what fetchpool adds to the same request on the same libcurl)"
fi
