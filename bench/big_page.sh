#!/usr/bin/env bash
# bench/big_page.sh - one 30 MB HTML page holding 1,000,000 links, crawled by fetchpool (--depth 0:
# the page is fetched and parsed, its links are not fetched). Peak RSS and CPU of the whole
# process, once with the default one-pass parser and once with --html-parser gumbo. The links a
# page keeps are capped by --max-links-per-page (default 10,000): the target is a peak RSS under
# 150 MB with the default parser (the body itself is 30 MB of it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LINKS=${LINKS:-1000000}
PAGE_MB=${PAGE_MB:-30}

bench_init
www="$BENCH_TMP/www"
mkdir -p "$www"
awk -v links="$LINKS" -v bytes=$(( PAGE_MB * 1024 * 1024 )) 'BEGIN {
  out = "<!DOCTYPE html><html><head><title>one big page</title></head><body>\n"
  printf "%s", out; n = length(out)
  for (i = 0; i < links; i++) { line = sprintf("<a href=/p%07d>x</a>\n", i); printf "%s", line; n += length(line) }
  pad = "<p>" sprintf("%1000s", "") "</p>\n"
  while (n < bytes - 32) { printf "%s", pad; n += length(pad) }
  print "</body></html>"
}' >"$www/big.html"
nginx_start "$www" 1
seed="http://127.0.0.1:$NGINX_PORT/big.html"
fetchpool_banner || bench_die "no fetchpool binary"
echo "big_page: $(du -m "$www/big.html" | cut -f1) MB page, $LINKS links, best of $(repeats) runs"
printf '%-8s %8s %8s %9s %10s\n' parser wall_s cpu_s rss_MiB links_kept

for parser in fast gumbo; do
  best_reset
  for (( r = 0; r < $(repeats); r++ )); do
    measure "$parser" "$FETCHPOOL" -q crawl "$seed" --depth 0 --html-parser "$parser" --progress none \
      -o "$BENCH_TMP/results.jsonl"
    M_COUNT=$(grep -o '"links":[0-9]*' "$BENCH_TMP/results.jsonl" | head -1 | cut -d: -f2)
    best_update wall
  done
  printf '%-8s %8s %8s %9s %10s\n' "$parser" "$B_WALL" "$B_CPU" "$(mib "$B_RSS")" "${B_COUNT:-?}"
  record big_page "fetchpool $parser" "1 page" "${B_WALL}s, peak $(mib "$B_RSS") MiB, ${B_COUNT:-?} links kept" "-"
done
