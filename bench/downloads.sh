#!/usr/bin/env bash
# bench/downloads.sh - bulk download throughput: 32 files x 16 MiB from a loopback nginx (sendfile),
# N at a time (default 8), saved to a tmpfs temp dir; with --big also 1 file x 1 GiB over one
# connection. Figures: MB/s (10^6 bytes of files on disk / wall) and the client's peak RSS.
# Peers: wget2 -i, aria2c -i -d (one connection per file, no split), curl --parallel.
# fetchpool runs twice when it has --sha256: as the peers do (no hash), and as
# "fp-sha256", hashing every file as --checksums and --manifest do (the price of SHA-256).
# fetchpool is measured only once its get command has a download option (an output directory);
# until then its line says so - no number is invented.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FILES=${FILES:-32}
FILE_MIB=${FILE_MIB:-16}
JOBS=${JOBS:-8}
BIG=0
for arg in "$@"; do
  case "$arg" in
    --big) BIG=1 ;;
    -h|--help) echo "usage: $0 [--big]   (--big adds 1 x 1 GiB)"; exit 0 ;;
    *) echo "downloads.sh: unknown argument '$arg' (only --big)" >&2; exit 2 ;;
  esac
done

bench_init
www="$BENCH_TMP/www"
mkdir -p "$www/files"
# Sparse files: nginx serves zeros from tmpfs at no memory cost; the clients still move every byte.
for (( i = 1; i <= FILES; i++ )); do truncate -s "${FILE_MIB}M" "$www/files/f$i.bin"; done
if (( BIG )); then truncate -s 1G "$www/files/big.bin"; fi
nginx_start "$www" 1
base="http://127.0.0.1:$NGINX_PORT"

# The download option of `fetchpool get` (-P,--directory-prefix; -o,--output-dir in older builds), if any.
fetchpool_dl_opt=""
fetchpool_ok=0
fetchpool_sha256=0
if fetchpool_banner; then
  fetchpool_ok=1
  help=$("$FETCHPOOL" get --help 2>&1 || true)
  for opt in --output-dir --directory-prefix --dir --download-dir; do
    if grep -q -- "$opt\b" <<<"$help"; then fetchpool_dl_opt=$opt; break; fi
  done
  if grep -q -- "--sha256\b" <<<"$help"; then fetchpool_sha256=1; fi
fi

# run_set SET COUNT BYTES_EACH N LIST CURLCFG: every tool downloads LIST with N at a time.
run_set() {
  local set=$1 count=$2 bytes_each=$3 n=$4 list=$5 cfg=$6
  local out="$BENCH_TMP/out"

  one() {
    local tool=$1; shift
    local r
    best_reset
    for (( r = 0; r < $(repeats); r++ )); do
      rm -rf "$out"; mkdir -p "$out"
      cd "$out"
      measure "$tool" "$@"
      cd "$BENCH_TMP"
      M_COUNT=$(find "$out" -type f -size "${bytes_each}c" | wc -l)
      best_update wall
    done
    rm -rf "$out"
    local mbs
    mbs=$(mb_per_s "$(( B_COUNT * bytes_each ))" "$B_WALL")
    printf '%-10s %-12s %4s %8s %8s %8s %12s %8s\n' "$tool" "$set" "$n" "$B_WALL" "$mbs" "$B_CPU" "$B_COUNT/$count" "$(mib "$B_RSS")"
    record downloads "$tool" "$set N=$n" "$mbs MB/s, peak RSS $(mib "$B_RSS") MiB ($B_COUNT/$count files)" "-"
  }

  if (( fetchpool_ok )); then
    if [[ -n "$fetchpool_dl_opt" ]]; then
      one fetchpool "$FETCHPOOL" -q get -i "$list" -j "$n" "$fetchpool_dl_opt" "$out" --progress none \
        "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/results.jsonl"
      if (( fetchpool_sha256 )); then
        one fp-sha256 "$FETCHPOOL" -q get -i "$list" -j "$n" "$fetchpool_dl_opt" "$out" --progress none \
          "$FETCHPOOL_RESULTS_OPT" "$BENCH_TMP/results.jsonl" --sha256
      fi
    else
      echo "fetchpool: download mode not built yet"
      record downloads fetchpool "$set N=$n" "download mode not built yet" "-"
    fi
  fi
  if have wget2; then
    one wget2 wget2 -q --max-threads="$n" -nd -i "$list"
  else echo "wget2: not installed - skipped"; fi
  if have aria2c; then
    one aria2c aria2c -q -j "$n" -x 1 -s 1 -i "$list" --file-allocation=none --auto-file-renaming=false \
      --allow-overwrite=true --summary-interval=0 --console-log-level=error
  else echo "aria2c: not installed - skipped"; fi
  if have curl; then
    one curl curl -s --no-progress-meter -Z --parallel-max "$n" --remote-name-all -K "$cfg"
  else echo "curl: not installed - skipped"; fi
}

list="$BENCH_TMP/files.txt"
cfg="$BENCH_TMP/files.curl"
awk -v b="$base" -v n="$FILES" 'BEGIN { for (i = 1; i <= n; i++) print b "/files/f" i ".bin" }' >"$list"
sed 's/.*/url = "&"/' "$list" >"$cfg"
echo "downloads: $FILES x $FILE_MIB MiB, $JOBS at a time, nginx at $base, saved to tmpfs, best of $(repeats) runs"
printf '%-10s %-12s %4s %8s %8s %8s %12s %8s\n' tool set N wall_s MB/s cpu_s complete rss_MiB
run_set "${FILES}x${FILE_MIB}MiB" "$FILES" $(( FILE_MIB * 1024 * 1024 )) "$JOBS" "$list" "$cfg"

if (( BIG )); then
  echo "$base/files/big.bin" >"$BENCH_TMP/big.txt"
  echo "url = \"$base/files/big.bin\"" >"$BENCH_TMP/big.curl"
  run_set "1x1GiB" 1 $(( 1024 * 1024 * 1024 )) 1 "$BENCH_TMP/big.txt" "$BENCH_TMP/big.curl"
fi
