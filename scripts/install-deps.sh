#!/usr/bin/env bash
# Installs fetchpool's build, test and benchmark dependencies from Debian 12
# packages. Idempotent: packages already present are skipped, and apt is not
# touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libcurl4-openssl-dev    # HTTP client (libcurl, CURLU URL API)
  zlib1g-dev              # gzip bodies of the built-in test server
  libgumbo-dev            # HTML5 parser
  libspdlog-dev           # logging
  catch2                  # tests (Catch2 2.13)
  nlohmann-json3-dev      # JSON records and stats
  libcli11-dev            # command line
  libtomlplusplus-dev     # TOML config
  libpsl-dev              # public suffix list: registrable domains
  libidn2-dev             # IDN host names to punycode (libcurl 7.88's own IDN needs a UTF-8 locale)
  libxml2-dev             # sitemaps (--sitemaps): SAX push parser, no network, no entities
  libhiredis-dev          # Redis frontier
  libsqlite3-dev          # SQLite sink
  libssl-dev              # SHA-256 (OpenSSL libcrypto) for download checksums
  libcpp-httplib-dev      # --status: the status page, JSON and metrics server
  zlib1g-dev              # gzip bodies in the built-in server
  redis-server            # real Redis for the Redis frontier tests
  curl                    # peer in benchmarks
  clang clang-tidy clang-format python3  # scripts/lint.sh: format, tidy, thread-safety analysis, include check
  python3-doc             # real HTML written by others: html_links_diff_test compares both parsers on it
  prometheus              # promtool: status_server_test checks /metrics with Prometheus' own checker (~21 MiB)
  chromium                # status_server_test renders the status page in headless chromium (~116 MiB, ~35 s)
)
# Peers and tools used only by bench/; installed with --bench.
bench_packages=(nginx libnginx-mod-http-echo wget2 wget aria2 wrk hyperfine time valgrind)  # wget: --warc-file peer; valgrind: instructions.sh

if [[ "${1:-}" == "--bench" ]]; then packages+=("${bench_packages[@]}"); fi
# node + npm run warcio.js, the WARC reader the --warc-file tests check the
# archives with (tests/warc_reader). A node from elsewhere (nodesource, which
# ships its own npm) is used as it is: Debian's npm beside it conflicts.
if ! command -v node >/dev/null; then packages+=(nodejs); fi
if ! command -v npm >/dev/null; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# warcio.js at the version package-lock.json pins (skipped when already there).
reader="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/warc_reader"
pinned=$(node -p "require('$reader/package-lock.json').packages['node_modules/warcio'].version")
installed=$(node -p "try { require('$reader/node_modules/warcio/package.json').version } catch { '' }")
if [[ "$installed" != "$pinned" ]]; then
  echo "install-deps: npm ci in tests/warc_reader (warcio $pinned)"
  (cd "$reader" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
