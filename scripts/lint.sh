#!/usr/bin/env bash
# Static checks CI runs before the builds (.ci/run): formatting, the include
# direction against the CMake dependency table, clang-tidy, and Clang's
# thread-safety analysis. Each prints what it checks and one verdict line;
# the script stops at the first failure. Needs clang, clang-tidy,
# clang-format and python3 (scripts/install-deps.sh installs them).
#
#   scripts/lint.sh            all four checks
#   scripts/lint.sh format includes tidy threads   any subset, in that order
set -euo pipefail
cd "$(dirname "$0")/.."

steps=("$@")
if [[ ${#steps[@]} -eq 0 ]]; then steps=(format includes tidy threads); fi
jobs=$(nproc 2>/dev/null || echo 2)

# The compile_commands.json of a clang build: clang-tidy and the analysis
# parse with clang, so they need clang's flags, not gcc's. Configuring and
# generating the embedded headers is enough; nothing is compiled here.
configure_clang() {
  if [[ ! -f build-clang/compile_commands.json ]]; then
    cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
          -DCMAKE_CXX_COMPILER=clang++ -DFETCHPOOL_BUILD_BENCH=OFF >/dev/null
  fi
  # Generated headers (the embedded Lua scripts) must exist to be parsed.
  cmake --build build-clang --target fetchpool_generated >/dev/null
}

# Sources in the clang build's compilation database under the given folders.
database_files() {
  python3 - "$@" <<'EOF'
import json, os, sys
root = os.getcwd()
for entry in json.load(open("build-clang/compile_commands.json")):
    rel = os.path.relpath(entry["file"], root)
    if any(rel.startswith(d + "/") for d in sys.argv[1:]):
        print(rel)
EOF
}

step_format() {
  echo "--- clang-format: every tracked *.cpp/*.hpp matches .clang-format (fixtures under tests/data excluded)"
  local files
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' ':!:tests/data/**')
  if clang-format --dry-run --Werror "${files[@]}"; then
    echo "format: OK (${#files[@]} files)"
  else
    echo "format: FAILED (run clang-format -i on the files above)"
    return 1
  fi
}

step_includes() {
  echo "--- include direction: each #include \"...\" stays within the includer's DEPS closure (src/*/CMakeLists.txt)"
  if python3 scripts/check-includes.py; then
    echo "includes: OK"
  else
    echo "includes: FAILED (add the component to DEPS, or move the code to the layer it belongs to)"
    return 1
  fi
}

step_tidy() {
  # src/ and tests/, with the headers they include (include/fetchpool, src/,
  # tests/support; HeaderFilterRegex in .clang-tidy). Tests follow the same
  # checks as the library: a NOLINT there names the check and the reason too.
  echo "--- clang-tidy: the checks in .clang-tidy over src/ and tests/ (and the headers they include), findings are errors"
  configure_clang
  local files started
  mapfile -t files < <(database_files src tests)
  started=$(date +%s)
  if run-clang-tidy -p build-clang -j "$jobs" -quiet "${files[@]}" >build-clang/tidy.log 2>&1; then
    echo "tidy: OK (${#files[@]} files, $(($(date +%s) - started)) s)"
  else
    grep -E "(warning|error):" build-clang/tidy.log | sort -u || true
    echo "tidy: FAILED (full log: build-clang/tidy.log)"
    return 1
  fi
}

step_threads() {
  echo "--- thread safety: clang++ -fsyntax-only -Wthread-safety -Werror over every source of the clang build"
  configure_clang
  local started
  started=$(date +%s)
  if python3 - "$jobs" <<'EOF'; then
import concurrent.futures, json, shlex, subprocess, sys
def command(entry):
    args = shlex.split(entry["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    return out + ["-fsyntax-only", "-Wthread-safety", "-Werror"]
def check(entry):
    r = subprocess.run(command(entry), cwd=entry["directory"], capture_output=True, text=True)
    return r.returncode, r.stderr
entries = json.load(open("build-clang/compile_commands.json"))
failed = 0
with concurrent.futures.ThreadPoolExecutor(int(sys.argv[1])) as pool:
    for code, err in pool.map(check, entries):
        if code:
            failed += 1
            sys.stdout.write(err)
print(f"{len(entries)} sources analysed, {failed} with errors")
sys.exit(1 if failed else 0)
EOF
    echo "threads: OK ($(($(date +%s) - started)) s)"
  else
    echo "threads: FAILED (annotate with FETCHPOOL_GUARDED_BY/REQUIRES, include/fetchpool/thread_annotations.hpp)"
    return 1
  fi
}

for step in "${steps[@]}"; do
  case "$step" in
    format | includes | tidy | threads) "step_${step}" ;;
    *)
      echo "lint.sh: unknown check '$step' (format, includes, tidy, threads)" >&2
      exit 2
      ;;
  esac
done
echo "=== lint passed: ${steps[*]} ==="
