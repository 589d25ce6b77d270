#!/usr/bin/env bash
# The installed library as a separate project sees it: install this build to a
# temporary prefix, configure and build examples/consumer against it with
# find_package(fetchpool), and run the consumer against the installed
# fetchpool's own test site on 127.0.0.1.
# Usage: install_consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/fetchpool-install-XXXXXX")
serve_pid=""
cleanup() {
  if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

prefix="$work/prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log"
test -f "$prefix/lib/cmake/fetchpool/fetchpoolConfig.cmake"
test -f "$prefix/include/fetchpool/engine.hpp"
# Public headers are the library only: no tool part is installed.
if ls "$prefix/include/fetchpool" | grep -E 'local_server|benchmark'; then
  echo "tool-only headers were installed" >&2
  exit 1
fi

cmake -S "$source_dir/examples/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/consumer" >"$work/build.log"

"$prefix/bin/fetchpool" serve --port 0 --pages 20 >"$work/serve.out" &
serve_pid=$!
base=""
for _ in $(seq 1 200); do  # the site prints its URL once listening (bounded: 20 s)
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/serve.out" || true)
  [[ -n "$base" ]] && break
  sleep 0.1
done
test -n "$base"

"$work/consumer/fetch_list" "$base/" "$base/status/204" "$base/bytes/5000" >"$work/out.txt"
cat "$work/out.txt"
grep -qx "200 $base/ (.*bytes)" "$work/out.txt"
grep -qx "204 $base/status/204 (0 bytes)" "$work/out.txt"
grep -qx "200 $base/bytes/5000 (5000 bytes)" "$work/out.txt"
grep -qx "3 fetched, 0 failed" "$work/out.txt"

# A failed URL makes it exit 1: the records really come from the engine.
set +e
"$work/consumer/fetch_list" "$base/status/404" >"$work/out404.txt"
rc=$?
set -e
test "$rc" -eq 1
grep -qx "404 $base/status/404 (.*bytes)" "$work/out404.txt"
echo "install_consumer_test: passed"
