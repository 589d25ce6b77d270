#!/usr/bin/env bash
# bench/latency_list.sh - latency-bound list fetch: 2000 URLs, each answered after 100 ms by a
# loopback nginx (echo_sleep). With N transfers in flight the best possible wall time is
# ceil(2000/N) x 0.1 s, so efficiency = ideal / wall measures how well a tool keeps N requests
# in flight. Tools: fetchpool get (-j N), wget2 (--max-threads N), curl --parallel (-Z), aria2c (-j N).
# Peers write their bodies to a temp dir (tmpfs), removed after each run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URLS=${URLS:-2000}
LATENCY_S=0.1
read -r -a JOBS_LIST <<<"${JOBS_LIST:-100 500}"
read -r -a TOOLS <<<"${TOOLS:-fetchpool wget2 curl aria2c}"   # TOOLS="fetchpool wget2": only those
# Many workers (issue 14): fetchpool alone over MANY_URLS delayed URLs at each of MANY_JOBS; every record
# must be present, and the peak RSS and the workers started are printed. MANY_JOBS="" skips it.
MANY_URLS=${MANY_URLS:-10000}
read -r -a MANY_JOBS <<<"${MANY_JOBS-1000 5000}"
wants() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

bench_init
mkdir -p "$BENCH_TMP/www"
nginx_start "$BENCH_TMP/www" 2   # echo_sleep is I/O-bound; two workers trim queueing
base="http://127.0.0.1:$NGINX_PORT"

list="$BENCH_TMP/urls.txt"
curl_cfg="$BENCH_TMP/urls.curl"
awk -v b="$base" -v n="$URLS" 'BEGIN { for (i = 1; i <= n; i++) print b "/delay/" i }' >"$list"
sed 's/.*/url = "&"/' "$list" >"$curl_cfg"

# Targets for fetchpool; the peers' figures were measured on this machine kind and are shown for reference.
target() {
  case "$1:$2" in
    fetchpool:100) echo ">=0.98" ;;
    fetchpool:500) echo ">=0.85" ;;
    wget2:100) echo "ref 0.97" ;;
    wget2:500) echo "ref 0.78" ;;
    curl:*) echo "ref 0.51" ;;
    aria2c:*) echo "ref 0.56" ;;
    *) echo "-" ;;
  esac
}

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
echo "latency_list: $URLS URLs x ${LATENCY_S}s latency, nginx at $base, best of $(repeats) runs"
printf '%-10s %5s %8s %8s %6s %9s %10s %8s\n' tool N wall_s ideal_s eff target fetched rss_MiB

count_files() { find "$1" -type f ! -name results.jsonl | wc -l; }
count_jsonl() { grep -c '"ok":true' "$1/results.jsonl" 2>/dev/null || true; }

# run_one TOOL N COUNTER -- CMD...: best of $(repeats) runs in a fresh output dir; COUNTER DIR
# prints how many URLs were fetched successfully.
run_one() {
  local tool=$1 n=$2 counter=$3; shift 4
  local out="$BENCH_TMP/out" r
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    rm -rf "$out"; mkdir -p "$out"
    cd "$out"
    measure "$tool" "$@"
    cd "$BENCH_TMP"
    M_COUNT=$($counter "$out")
    best_update wall
  done
  rm -rf "$out"
  local ideal eff note=""
  ideal=$(awk -v u="$URLS" -v n="$n" -v l="$LATENCY_S" 'BEGIN { printf "%.2f", int((u + n - 1) / n) * l }')
  eff=$(ratio "$ideal" "$B_WALL")
  if [[ "$tool" == curl && "$n" -gt 300 ]]; then note=" (curl caps --parallel-max at 300)"; fi
  printf '%-10s %5s %8s %8s %6s %9s %10s %8s%s\n' "$tool" "$n" "$B_WALL" "$ideal" "$eff" "$(target "$tool" "$n")" \
    "$B_COUNT/$URLS" "$(mib "$B_RSS")" "$note"
  record latency_list "$tool" "N=$n" "eff $eff (wall ${B_WALL}s, ideal ${ideal}s, $B_COUNT/$URLS ok)" "$(target "$tool" "$n")"
}

for n in "${JOBS_LIST[@]}"; do
  if (( fetchpool_ok )) && wants fetchpool; then
    run_one fetchpool "$n" count_jsonl -- "$FETCHPOOL" -q get -i "$list" -j "$n" --per-host 0 --progress none \
      "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/out/results.jsonl"
  fi
  if ! wants wget2; then :; elif have wget2; then
    run_one wget2 "$n" count_files -- wget2 -q --max-threads="$n" -nd -i "$list"
  else echo "wget2: not installed - skipped"; fi
  if ! wants curl; then :; elif have curl; then
    run_one curl "$n" count_files -- curl -s --no-progress-meter -Z --parallel-max "$n" --remote-name-all -K "$curl_cfg"
  else echo "curl: not installed - skipped"; fi
  if ! wants aria2c; then :; elif have aria2c; then
    run_one aria2c "$n" count_files -- aria2c -q -j "$n" -i "$list" --file-allocation=none \
      --auto-file-renaming=false --allow-overwrite=true --summary-interval=0 --console-log-level=error
  else echo "aria2c: not installed - skipped"; fi
done

# Many workers: MANY_URLS URLs, each 100 ms, at -j 1000 and 5000. Ideal wall = ceil(U/N) x 0.1 s.
if (( fetchpool_ok )) && (( ${#MANY_JOBS[@]} > 0 )); then
  many="$BENCH_TMP/many.txt"
  awk -v b="$base" -v n="$MANY_URLS" 'BEGIN { for (i = 1; i <= n; i++) print b "/delay/m" i }' >"$many"
  echo "many workers: $MANY_URLS URLs x ${LATENCY_S}s latency, one run each"
  printf '%-10s %5s %8s %8s %6s %12s %8s %s\n' tool N wall_s ideal_s eff records rss_MiB workers
  for n in "${MANY_JOBS[@]}"; do
    out="$BENCH_TMP/out"; rm -rf "$out"; mkdir -p "$out"
    measure fetchpool "$FETCHPOOL" -q get -i "$many" -j "$n" --per-host 0 --progress none \
      "$FETCHPOOL_RESULTS_OPT" "$out/results.jsonl" --stats-json "$out/stats.json"
    records=$(wc -l <"$out/results.jsonl" 2>/dev/null || echo 0)
    ok=$(count_jsonl "$out")
    started=$(grep -oE '"started": *[0-9]+' "$out/stats.json" 2>/dev/null | grep -oE '[0-9]+$' || true)
    ideal=$(awk -v u="$MANY_URLS" -v n="$n" -v l="$LATENCY_S" 'BEGIN { printf "%.2f", int((u + n - 1) / n) * l }')
    printf '%-10s %5s %8s %8s %6s %12s %8s %s\n' fetchpool "$n" "$M_WALL" "$ideal" "$(ratio "$ideal" "$M_WALL")" \
      "$records/$MANY_URLS" "$(mib "$M_RSS")" "started ${started:--}, $ok ok"
    record latency_list fetchpool "N=$n U=$MANY_URLS" "records $records/$MANY_URLS, rss $(mib "$M_RSS") MiB" "all records"
    rm -rf "$out"
  done
fi
