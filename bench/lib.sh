# bench/lib.sh - shared helpers for fetchpool's benchmarks. Source it; do not run it.
#
# Provides:
#   bench_init                     temp dir in $BENCH_TMP (tmpfs /dev/shm unless BENCH_TMPDIR is set), EXIT/INT/TERM trap that stops nginx and removes it
#   nginx_start ROOT [WORKERS]     private nginx on 127.0.0.1:$NGINX_PORT serving ROOT, /delay/ = 100 ms echo, /ok/* = 200 "ok"
#   nginx_stop                     stop it (also done by the trap)
#   small_files_write DIR COUNT    COUNT files of ~1 KB, DIR/1.txt ... DIR/COUNT.txt
#   static_site_start PAGES        gen_site.awk's site of PAGES pages served by nginx_start (SITE_DIR, SEED_URL)
#   measure NAME CMD...            run CMD, set M_WALL (s), M_CPU (user+sys s), M_RSS (peak KiB or "-"), M_RC
#   best_reset / best_update KEY   keep the best of $BENCH_REPEAT runs (B_WALL, B_CPU, B_RSS, B_COUNT)
#   find_fetchpool                 set FETCHPOOL to the binary (env FETCHPOOL, else build dirs), or empty
#   fetchpool_banner               find it, print it, set FETCHPOOL_RESULTS_OPT (results-file option of get)
#   ratio / us_per / per_s / ...   small awk arithmetic helpers printing formatted numbers
#   record ...                     row for run-all.sh's combined table
#
# Everything runs on loopback; every wait loop is bounded; the trap removes every temp file.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
BENCH_TMP=""
NGINX_PID=""
NGINX_PORT=""
NGINX_PREFIX=""

bench_cleanup() {
  nginx_stop
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then rm -rf -- "$BENCH_TMP"; fi
  BENCH_TMP=""
}

bench_init() {
  # tmpfs by default: on a virtual disk, creating and deleting thousands of output files costs
  # seconds and would swamp the network figures. BENCH_TMPDIR overrides.
  local base=${BENCH_TMPDIR:-}
  if [[ -z "$base" ]]; then
    if [[ -d /dev/shm && -w /dev/shm ]]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
  fi
  BENCH_TMP=$(mktemp -d "$base/fetchpool-bench.XXXXXX")
  chmod 0755 "$BENCH_TMP"   # nginx workers started by root run as nobody and must read the site
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  command -v nginx >/dev/null || bench_die "nginx not installed (run scripts/install-deps.sh --bench)"
}

bench_die() { echo "bench: $*" >&2; exit 1; }

# A port nothing listens on now, below the ephemeral range so client sockets cannot hold it.
# nginx may still lose a race for it; nginx_start retries.
free_port() {
  local tries=0 port low=32768
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then read -r low _ </proc/sys/net/ipv4/ip_local_port_range; fi
  if (( low <= 11000 )); then low=32768; fi
  while (( tries < 50 )); do
    port=$(( 10000 + RANDOM % (low - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    tries=$(( tries + 1 ))
  done
  bench_die "no free port found in 50 tries"
}

# nginx_start ROOT [WORKERS]: the config lives in a temp prefix so nothing under /etc or /var is touched.
nginx_start() {
  local root=$1 workers=${2:-1} attempt
  [[ -f "$ECHO_MODULE" ]] || bench_die "$ECHO_MODULE missing (apt package libnginx-mod-http-echo)"
  NGINX_PREFIX="$BENCH_TMP/nginx"
  mkdir -p "$NGINX_PREFIX/logs" "$NGINX_PREFIX/tmp"
  for attempt in 1 2 3 4 5; do
    NGINX_PORT=$(free_port)
    cat >"$NGINX_PREFIX/nginx.conf" <<EOF
load_module $ECHO_MODULE;
daemon off;
worker_processes $workers;
worker_rlimit_nofile 16384;
pid $NGINX_PREFIX/nginx.pid;
error_log $NGINX_PREFIX/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  sendfile on;
  tcp_nopush on;
  # Cached descriptors stay open: keep the cache well under worker_rlimit_nofile.
  open_file_cache max=2000 inactive=60s;
  client_body_temp_path $NGINX_PREFIX/tmp/body;
  proxy_temp_path $NGINX_PREFIX/tmp/proxy;
  fastcgi_temp_path $NGINX_PREFIX/tmp/fastcgi;
  uwsgi_temp_path $NGINX_PREFIX/tmp/uwsgi;
  scgi_temp_path $NGINX_PREFIX/tmp/scgi;
  types { text/html html; text/plain txt; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    root $root;
    location /delay/ {
      default_type text/plain;
      echo_sleep 0.1;
      echo "delayed \$uri";
    }
    # Any path under /ok/ answers at once without touching the disk: lists of millions of URLs.
    location /ok/ {
      default_type text/plain;
      return 200 "ok\n";
    }
  }
}
EOF
    nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/logs/error.log" \
      </dev/null >"$NGINX_PREFIX/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    local i
    for (( i = 0; i < 100; i++ )); do    # up to 5 s for the listener
      if (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; then return 0; fi
      if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
      sleep 0.05
    done
    nginx_stop
    echo "bench: nginx did not start on port $NGINX_PORT (attempt $attempt):" >&2
    tail -n 3 "$NGINX_PREFIX/logs/error.log" "$NGINX_PREFIX/logs/stdout.log" >&2 2>/dev/null || true
  done
  bench_die "nginx failed to start"
}

# small_files_write DIR COUNT: DIR/1.txt .. DIR/COUNT.txt, ~1 KB each (1000 bytes of text and a
# newline): the small static pages of cpu_per_request.sh and instructions.sh.
small_files_write() {
  mkdir -p "$1"
  awk -v d="$1" -v n="$2" 'BEGIN {
    b = ""; for (i = 0; i < 25; i++) b = b "0123456789abcdefghijklmnopqrstuvwxyzABCD";
    for (i = 1; i <= n; i++) { f = d "/" i ".txt"; print b > f; close(f) } }'
}

# static_site_start PAGES: the generated static site of crawl_site.sh (gen_site.awk, ~10 KB HTML
# per page, 8 relative links each) in $BENCH_TMP/www, served by one loopback nginx worker; sets
# SITE_DIR and SEED_URL (its index.html).
static_site_start() {
  SITE_DIR="$BENCH_TMP/www"
  awk -v root="$SITE_DIR" -v pages="$1" -v bytes=10240 -f "$BENCH_DIR/gen_site.awk"
  nginx_start "$SITE_DIR" 1
  SEED_URL="http://127.0.0.1:$NGINX_PORT/index.html"
}

nginx_stop() {
  if [[ -n "$NGINX_PID" ]]; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    local i
    for (( i = 0; i < 100; i++ )); do   # up to 5 s, then force
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
  fi
}

now_ns() { date +%s%N; }

# measure NAME CMD...: wall clock from date (ns resolution); CPU (user+sys in M_CPU, each apart in
# M_USER and M_SYS) and peak RSS of CMD and its children from GNU time when installed, else bash's
# `times` delta (CPU only, user+sys). CMD is killed
# after $BENCH_CMD_TIMEOUT seconds (default 150) so no run can hang a benchmark; --foreground keeps
# it in the terminal's process group, so Ctrl-C reaches it at once.
measure() {
  local name=$1; shift
  local tfile="$BENCH_TMP/time.$name" t0 t1
  M_RC=0
  if [[ -x /usr/bin/time && -z "${BENCH_NO_GNU_TIME:-}" ]]; then   # BENCH_NO_GNU_TIME=1 tests the fallback
    t0=$(now_ns)
    /usr/bin/time -f '%U %S %M' -o "$tfile" timeout --foreground -k 5 "${BENCH_CMD_TIMEOUT:-150}" "$@" || M_RC=$?
    t1=$(now_ns)
    local u="" s="" m=""
    # GNU time may precede its line with "Command exited with non-zero status N".
    read -r u s m < <(grep -E '^[0-9.]+ [0-9.]+ [0-9]+$' "$tfile" | tail -n 1) || true
    M_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
    M_USER=${u:--}
    M_SYS=${s:--}
    M_RSS=${m:--}
  else
    local c0 c1
    children_cpu c0
    t0=$(now_ns)
    timeout --foreground -k 5 "${BENCH_CMD_TIMEOUT:-150}" "$@" || M_RC=$?
    t1=$(now_ns)
    children_cpu c1
    M_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
    M_USER="-"
    M_SYS="-"
    M_RSS="-"
  fi
  M_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  if (( M_RC == 124 || M_RC == 137 )); then
    echo "bench: $name timed out after ${BENCH_CMD_TIMEOUT:-150} s" >&2
  elif (( M_RC != 0 )); then
    echo "bench: $name exited with status $M_RC" >&2
  fi
}

# Best of $BENCH_REPEAT runs (default 2; the machine is shared, so one slow run says little).
# Each script measures, sets M_COUNT (items actually fetched), then calls best_update KEY with
# KEY = wall or cpu; B_WALL/B_CPU/B_USER/B_SYS/B_RSS/B_COUNT/B_RC then hold the best run.
repeats() { echo "${BENCH_REPEAT:-2}"; }
best_reset() { B_WALL=""; B_CPU=""; B_USER=""; B_SYS=""; B_RSS=""; B_COUNT=""; B_RC=""; }
best_update() {
  local key=$1 better=0
  if [[ -z "$B_WALL" ]]; then
    better=1
  elif (( M_RC == 0 && B_RC != 0 )); then
    better=1
  elif (( M_RC == 0 || B_RC != 0 )); then
    if [[ "$key" == cpu ]]; then
      better=$(awk -v a="$M_CPU" -v b="$B_CPU" 'BEGIN { print (a < b) ? 1 : 0 }')
    else
      better=$(awk -v a="$M_WALL" -v b="$B_WALL" 'BEGIN { print (a < b) ? 1 : 0 }')
    fi
  fi
  if (( better )); then
    B_WALL=$M_WALL; B_CPU=$M_CPU; B_USER=${M_USER:--}; B_SYS=${M_SYS:--}; B_RSS=$M_RSS; B_COUNT=${M_COUNT:-}; B_RC=$M_RC
  fi
}

# children_cpu VAR: sets VAR to the children's user+sys seconds so far, from bash's `times`
# (second line: "XmY.YYYs XmY.YYYs"). `times` must run in this shell - a pipeline or $(...)
# subshell has children of its own - so it writes to a file that is parsed afterwards.
children_cpu() {
  times >"$BENCH_TMP/times.out"
  printf -v "$1" '%s' "$(tail -n 1 "$BENCH_TMP/times.out" |
    awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] } printf "%.3f", t }')"
}

# FETCHPOOL from the environment, else the first Release-like build found, else a Debug one.
find_fetchpool() {
  if [[ -n "${FETCHPOOL:-}" ]]; then
    [[ -x "$FETCHPOOL" ]] || bench_die "FETCHPOOL=$FETCHPOOL is not executable"
    # Runs start in their own output directories: a relative path would name nothing there.
    FETCHPOOL=$(realpath "$FETCHPOOL")
    return 0
  fi
  local d
  for d in build-release build-relwithdebinfo build-bench build; do
    if [[ -x "$REPO_DIR/$d/fetchpool" ]]; then FETCHPOOL="$REPO_DIR/$d/fetchpool"; return 0; fi
    if [[ -x "$REPO_DIR/$d/src/cli/fetchpool" ]]; then FETCHPOOL="$REPO_DIR/$d/src/cli/fetchpool"; return 0; fi
  done
  FETCHPOOL=""
}

# BARE_LIST: bench/bare_list beside the fetchpool found (the worker model's floor: one libcurl easy
# handle per thread, curl_easy_perform, nothing else), or from the environment. Returns 1 when absent.
find_bare_list() {
  if [[ -z "${BARE_LIST:-}" && -n "${FETCHPOOL:-}" ]]; then BARE_LIST="$(dirname "$FETCHPOOL")/bench/bare_list"; fi
  if [[ -n "${BARE_LIST:-}" && -x "$BARE_LIST" ]]; then BARE_LIST=$(realpath "$BARE_LIST"); return 0; fi
  echo "bare: bench/bare_list not built (cmake --build <build dir> --target bare_list) - skipped"
  return 1
}
count_bare() { awk '{ print $2 }' "$1" 2>/dev/null || echo 0; }

# Build type of the found binary, from its CMakeCache, so a Debug figure is never mistaken for a real one.
fetchpool_build_type() {
  local dir cache
  dir=$(dirname "$FETCHPOOL")
  for cache in "$dir/CMakeCache.txt" "$dir/../CMakeCache.txt" "$dir/../../CMakeCache.txt"; do
    if [[ -f "$cache" ]]; then
      sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache"
      return 0
    fi
  done
  echo "unknown"
}

# Announces which fetchpool is measured, or why it is skipped. Returns 1 when there is none.
fetchpool_banner() {
  find_fetchpool
  if [[ -z "$FETCHPOOL" ]]; then
    echo "fetchpool: binary not found (build it: cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build-release --target fetchpool; or set FETCHPOOL=path) - skipped"
    return 1
  fi
  local bt
  bt=$(fetchpool_build_type)
  echo "fetchpool: $FETCHPOOL (build type ${bt:-unset})"
  # `get --results FILE` (an alias of -o FILE since -P became the download directory); older builds used -o.
  FETCHPOOL_RESULTS_OPT=-o
  local help
  help=$("$FETCHPOOL" get --help 2>&1 || true)   # captured first: grep -q on a pipe could SIGPIPE it
  if grep -q -- '--results' <<<"$help"; then FETCHPOOL_RESULTS_OPT=--results; fi
  if [[ "$bt" != "Release" && "$bt" != "RelWithDebInfo" ]]; then
    echo "fetchpool: WARNING not an optimised build; its CPU figures are not comparable"
  fi
  return 0
}

have() { command -v "$1" >/dev/null 2>&1; }

# Arithmetic helpers (bash has no floats).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
us_per() { awk -v cpu="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", cpu * 1e6 / n; else printf "-" }'; }
per_s() { awk -v n="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.0f", n / w; else printf "-" }'; }
mb_per_s() { awk -v b="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.1f", b / 1e6 / w; else printf "-" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "-" }'; }

# record BENCH TOOL PARAMS FIGURE TARGET: one row for run-all.sh's combined table, appended
# (tab-separated) to $BENCH_RESULTS when run-all.sh set it; a no-op otherwise.
record() {
  if [[ -n "${BENCH_RESULTS:-}" ]]; then printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_RESULTS"; fi
}
