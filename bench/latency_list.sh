#!/usr/bin/env bash
# bench/latency_list.sh - latency-bound list fetch: 2000 URLs, each answered after 100 ms by a
# loopback nginx (echo_sleep). With N transfers in flight the best possible wall time is
# ceil(2000/N) x 0.1 s, so efficiency = ideal / wall measures how well a tool keeps N requests
# in flight. Tools: fetchpool get (-j N), bare (bench/bare_list: one libcurl easy handle per thread
# and nothing else, the floor of fetchpool's worker model), wget2 (--max-threads N), curl --parallel
# (-Z), aria2c (-j N).
# Peers write their bodies to a temp dir (tmpfs), removed after each run.
# TIMELINE=1: nginx logs every request, and each run prints where its wall time went (see timeline()).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URLS=${URLS:-2000}
LATENCY_S=0.1
read -r -a JOBS_LIST <<<"${JOBS_LIST:-100 500}"
read -r -a TOOLS <<<"${TOOLS:-fetchpool bare wget2 curl aria2c}"   # TOOLS="fetchpool wget2": only those
# Many workers (issue 14): fetchpool alone over MANY_URLS delayed URLs at each of MANY_JOBS; every record
# must be present, and the peak RSS and the workers started are printed. MANY_JOBS="" skips it.
MANY_URLS=${MANY_URLS:-10000}
read -r -a MANY_JOBS <<<"${MANY_JOBS-1000 5000}"
wants() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }
TIMELINE=${TIMELINE:-0}

bench_init
mkdir -p "$BENCH_TMP/www"
nginx_start "$BENCH_TMP/www" 2   # echo_sleep is I/O-bound; two workers trim queueing
base="http://127.0.0.1:$NGINX_PORT"
access_log="$NGINX_PREFIX/logs/access.log"
if [[ "$TIMELINE" == 1 ]]; then
  # $msec: when the answer was logged; $request_time: since the request's first byte was read.
  sed -i "s|access_log off;|log_format timeline '\$msec \$request_time'; access_log $access_log timeline;|" \
    "$NGINX_PREFIX/nginx.conf"
  nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/logs/error.log" -s reload
  for (( i = 0; i < 50; i++ )); do [[ -e "$access_log" ]] && break; sleep 0.1; done   # the new workers open it
  sleep 0.3                                                                # the old ones leave
fi

# timeline TOOL N T0_NS T1_NS: one run from nginx's log, in ms after the tool's exec (T0): its first request,
# each wave of N requests (earliest..latest request start), the last answer, and exit after it. Waves that
# start later and later point at scheduling; a wide first wave at start-up; a long exit at the tail.
timeline() {
  local tool=$1 n=$2 t0=$3 t1=$4
  [[ -s "$access_log" ]] || { echo "  timeline $tool: no requests logged"; return 0; }
  awk -v t0="$t0" '{ printf "%.3f %.3f\n", ($1 - $2) * 1000 - t0 / 1e6, $1 * 1000 - t0 / 1e6 }' "$access_log" |
    sort -n -k1,1 | awk -v n="$n" -v tool="$tool" -v t0="$t0" -v t1="$t1" '
      { start[NR] = $1; if (NR == 1 || $2 > last) last = $2 }
      END {
        line = sprintf("  timeline %-9s first request %5.1f ms, waves", tool, start[1])
        for (w = 1; (w - 1) * n < NR; w++) {
          hi = w * n < NR ? w * n : NR
          line = line sprintf(" %.0f..%.0f", start[(w - 1) * n + 1], start[hi])
        }
        printf "%s, last answer %.1f, exit %.1f ms later\n", line, last, (t1 - t0) / 1e6 - last
      }'
}

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
    bare:*) echo "floor" ;;
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

# The tools measured: wanted, and installed (or built).
active=()
if (( fetchpool_ok )) && wants fetchpool; then active+=(fetchpool); fi
if (( fetchpool_ok )) && wants bare && find_bare_list; then active+=(bare); fi
for t in wget2 curl aria2c; do
  if ! wants "$t"; then :; elif have "$t"; then active+=("$t"); else echo "$t: not installed - skipped"; fi
done

# run_tool TOOL N: one run in a fresh output dir; sets M_* (measure) and M_COUNT (URLs fetched).
run_tool() {
  local tool=$1 n=$2 out="$BENCH_TMP/out" t0 t1
  rm -rf "$out"; mkdir -p "$out"
  cd "$out"
  if [[ "$TIMELINE" == 1 ]]; then : >"$access_log"; fi
  t0=$(now_ns)
  case "$tool" in
    fetchpool) measure fetchpool "$FETCHPOOL" -q get -i "$list" -j "$n" --per-host 0 --progress none \
                 "$FETCHPOOL_RESULTS_OPT" "$out/results.jsonl" ;;
    bare) measure bare "$BARE_LIST" -i "$list" -j "$n" -o "$out/bare.txt" ;;
    wget2) measure wget2 wget2 -q --max-threads="$n" -nd -i "$list" ;;
    curl) measure curl curl -s --no-progress-meter -Z --parallel-max "$n" --remote-name-all -K "$curl_cfg" ;;
    aria2c) measure aria2c aria2c -q -j "$n" -i "$list" --file-allocation=none --auto-file-renaming=false \
              --allow-overwrite=true --summary-interval=0 --console-log-level=error ;;
  esac
  t1=$(now_ns)
  cd "$BENCH_TMP"
  if [[ "$TIMELINE" == 1 ]]; then sleep 0.2; timeline "$tool" "$n" "$t0" "$t1"; fi   # nginx writes its log lines
  case "$tool" in
    fetchpool) M_COUNT=$(count_jsonl "$out") ;;
    bare) M_COUNT=$(count_bare "$out/bare.txt") ;;
    *) M_COUNT=$(count_files "$out") ;;
  esac
  rm -rf "$out"
}

# Best of $(repeats) runs per tool, the tools taking turns (fetchpool, wget2, ..., fetchpool, wget2, ...):
# on a shared machine the load moves within seconds, and turns give every tool the same share of it.
for n in "${JOBS_LIST[@]}"; do
  declare -A BEST_WALL=() BEST_CPU=() BEST_RSS=() BEST_COUNT=() BEST_RC=()
  for (( r = 0; r < $(repeats); r++ )); do
    for tool in "${active[@]}"; do
      B_WALL=${BEST_WALL[$tool]:-}; B_CPU=${BEST_CPU[$tool]:-}; B_RSS=${BEST_RSS[$tool]:-}
      B_COUNT=${BEST_COUNT[$tool]:-}; B_RC=${BEST_RC[$tool]:-}
      run_tool "$tool" "$n"
      best_update wall
      BEST_WALL[$tool]=$B_WALL; BEST_CPU[$tool]=$B_CPU; BEST_RSS[$tool]=$B_RSS
      BEST_COUNT[$tool]=$B_COUNT; BEST_RC[$tool]=$B_RC
    done
  done
  for tool in "${active[@]}"; do
    B_WALL=${BEST_WALL[$tool]}; B_RSS=${BEST_RSS[$tool]}; B_COUNT=${BEST_COUNT[$tool]}
    ideal=$(awk -v u="$URLS" -v n="$n" -v l="$LATENCY_S" 'BEGIN { printf "%.2f", int((u + n - 1) / n) * l }')
    eff=$(ratio "$ideal" "$B_WALL")
    note=""
    if [[ "$tool" == curl && "$n" -gt 300 ]]; then note=" (curl caps --parallel-max at 300)"; fi
    printf '%-10s %5s %8s %8s %6s %9s %10s %8s%s\n' "$tool" "$n" "$B_WALL" "$ideal" "$eff" "$(target "$tool" "$n")" \
      "$B_COUNT/$URLS" "$(mib "$B_RSS")" "$note"
    record latency_list "$tool" "N=$n" "eff $eff (wall ${B_WALL}s, ideal ${ideal}s, $B_COUNT/$URLS ok)" \
      "$(target "$tool" "$n")"
  done
  unset BEST_WALL BEST_CPU BEST_RSS BEST_COUNT BEST_RC
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
