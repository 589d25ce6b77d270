#!/usr/bin/env bash
# bench/memory_per_url.sh - memory per URL of a huge list fetch: `get -i LIST` over URLS (default
# 1,000,000) distinct URLs of a loopback nginx (/ok/*: 200 "ok" from memory, no disk), and the same
# with a tenth of the list. Figures: peak RSS / URLs (the issue's target: <= 300 B per URL at 1M),
# and the marginal cost (RSS(N) - RSS(N/10)) / (0.9 N), which is what the seen set and per-URL state
# cost once the fixed part (libraries, worker stacks, buffers) is taken out.
# The list is streamed: add() blocks while 10,000 URLs wait in the frontier, so the queue is bounded
# and only the compact seen set (a 16-byte hash per URL) grows with the list.
# With BENCH_PEERS=1 (default) wget2 runs the same list for comparison.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URLS=${URLS:-1000000}
JOBS=${JOBS:-16}
export BENCH_CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-900}

bench_init
mkdir -p "$BENCH_TMP/www"
nginx_start "$BENCH_TMP/www" 1
base="http://127.0.0.1:$NGINX_PORT"
small=$(( URLS / 10 ))
# ~60-byte URLs, like real page URLs.
make_list() { awk -v b="$base" -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "%s/ok/catalogue/item-%07d/index.html\n", b, i }' >"$2"; }
make_list "$URLS" "$BENCH_TMP/big.txt"
make_list "$small" "$BENCH_TMP/small.txt"

fetchpool_ok=0
if fetchpool_banner; then fetchpool_ok=1; fi
echo "memory_per_url: get -i LIST of $small and $URLS distinct URLs, $JOBS workers, nginx at $base (one run each)"
printf '%-10s %9s %8s %9s %9s %10s %12s %s\n' tool urls wall_s req/s rss_MiB B/url marginal_B ok

declare -A RSS_KIB=()
run_one() {
  local tool=$1 n=$2 counter=$3; shift 3
  measure "$tool-$n" "$@"
  RSS_KIB[$tool-$n]=$M_RSS
  local ok per marginal="-" target="-"
  ok=$($counter)
  per=$(awk -v k="$M_RSS" -v n="$n" 'BEGIN { if (k ~ /^[0-9]+$/ && n > 0) printf "%.0f", k * 1024 / n; else printf "-" }')
  if [[ "$n" == "$URLS" ]]; then
    marginal=$(awk -v a="${RSS_KIB[$tool-$small]:-}" -v b="$M_RSS" -v n="$(( URLS - small ))" \
      'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && n > 0) printf "%.0f", (b - a) * 1024 / n; else printf "-" }')
    if [[ "$tool" == fetchpool ]]; then target="<=300"; fi
    record memory_per_url "$tool" "N=$n -j$JOBS" "$per B/url RSS ($(mib "$M_RSS") MiB), marginal $marginal B/url, $ok ok" "$target"
  fi
  printf '%-10s %9s %8s %9s %9s %10s %12s %s\n' "$tool" "$n" "$M_WALL" "$(per_s "$n" "$M_WALL")" "$(mib "$M_RSS")" "$per" "$marginal" "$ok/$n"
}

count_fetchpool() { grep -c '"ok":true' "$BENCH_TMP/results.jsonl" 2>/dev/null || true; }
count_wget2() { awk -F, 'NR > 1 && $4 == 200' "$BENCH_TMP/stats.csv" 2>/dev/null | wc -l; }

for n in "$small" "$URLS"; do
  list=$BENCH_TMP/small.txt
  [[ "$n" == "$URLS" ]] && list=$BENCH_TMP/big.txt
  if (( fetchpool_ok )); then
    rm -f "$BENCH_TMP/results.jsonl"
    run_one fetchpool "$n" count_fetchpool "$FETCHPOOL" -q get -i "$list" -j "$JOBS" --per-host 0 --progress none \
      "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/results.jsonl"
    rm -f "$BENCH_TMP/results.jsonl"
  fi
  if [[ "${BENCH_PEERS:-1}" == 1 ]] && have wget2; then
    rm -f "$BENCH_TMP/stats.csv"
    run_one wget2 "$n" count_wget2 wget2 -q --max-threads="$JOBS" -O /dev/null -i "$list" --stats-site="csv:$BENCH_TMP/stats.csv"
    rm -f "$BENCH_TMP/stats.csv"
  fi
done
