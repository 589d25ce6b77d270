#!/usr/bin/env python3
"""Include-direction check: every #include "..." must point at a component the
includer may use, by the dependency table the CMake files spell out.

The link step already rejects a call into a component missing from DEPS, but
only when a program happens to link the call; this check fails at once, on the
include line, and also catches headers whose use is inline only.

Components and their DEPS are read from the CMake files:
  - fetchpool_component(NAME x SRCS ... DEPS ...) in src/*/CMakeLists.txt,
  - add_library / add_executable / target_link_libraries / target_sources of
    other targets there (fetchpool_cli, the fetchpool program),
  - fetchpool_test(NAME t SRCS ... DEPS ...) in tests/CMakeLists.txt.
"fetchpool::x" and "fetchpool_x" name component x; anything else in DEPS
(CURL::libcurl, Threads::Threads, ...) is outside the tree and ignored. A
component may include headers of every component in its DEPS closure
(transitive deps are allowed: the build propagates them as PUBLIC).

Who owns a header (first rule that applies):
  1. dir/name.hpp, or include/fetchpool/name.hpp, is owned by the component
     whose SRCS hold name.cpp in that dir (for include/fetchpool: in any dir).
  2. dir/name_part.hpp is owned by the component holding dir/name.cpp
     (local_server_internal.hpp belongs with local_server.cpp).
  3. Otherwise the header is header-only (body_writer.hpp, base helpers,
     seen_set.hpp, test support): it belongs to no component and is checked
     as if its text were written in each includer, the way the preprocessor
     sees it. So an includer must be allowed everything the header includes.
     A header-only header under src/<layer>/ (or tests/) may besides be
     included only from its own layer or a later one, in the order of
     add_subdirectory() in src/CMakeLists.txt, tests last.

Usage: check-includes.py [--root DIR] [--expect FILE:LINE ...]
With --expect (used by the self-test on tests/data/include_check), the exit
status is 0 only when the violations found are exactly the expected ones.
"""

import argparse
import os
import re
import sys

KEYWORDS = {"NAME", "SRCS", "DEPS", "TOOL"}
SCOPES = {"PUBLIC", "PRIVATE", "INTERFACE"}
LIB_KINDS = {"STATIC", "SHARED", "OBJECT", "MODULE", "INTERFACE"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_EXTS = (".cpp", ".hpp")


class Component:
    def __init__(self, name, layer, cmake_file):
        self.name = name
        self.layer = layer
        self.cmake_file = cmake_file
        self.srcs = []  # paths relative to the root
        self.deps = set()


def cmake_commands(text):
    """Yields (command, [args]) for each command call in a CMake file."""
    text = re.sub(r"#[^\n]*", "", text)
    pos = 0
    call = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
    while True:
        m = call.search(text, pos)
        if not m:
            return
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.group(1).lower(), text[m.end() : i - 1].split()
        pos = i


def component_name(token):
    if token.startswith("fetchpool::"):
        return token[len("fetchpool::") :]
    if token.startswith("fetchpool_"):
        return token[len("fetchpool_") :]
    return token


def read_components(root):
    """Returns ({name: Component}, [layer names in build order])."""
    layers = []
    src_lists = os.path.join(root, "src", "CMakeLists.txt")
    with open(src_lists, encoding="utf-8") as f:
        for cmd, args in cmake_commands(f.read()):
            if cmd == "add_subdirectory" and args:
                layers.append(args[0])
    files = [(layer, os.path.join("src", layer, "CMakeLists.txt")) for layer in layers]
    files.append(("tests", os.path.join("tests", "CMakeLists.txt")))
    layers.append("tests")

    components = {}
    for layer, rel in files:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            continue
        base = os.path.dirname(rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for cmd, args in cmake_commands(text):
            if cmd in ("fetchpool_component", "fetchpool_test"):
                fields, key = {"NAME": [], "SRCS": [], "DEPS": []}, None
                for a in args:
                    if a in KEYWORDS:
                        key = a if a != "TOOL" else None
                    elif key:
                        fields[key].append(a)
                if not fields["NAME"]:
                    continue
                c = Component(fields["NAME"][0], layer, rel)
                c.srcs = [os.path.normpath(os.path.join(base, s)) for s in fields["SRCS"] if s.endswith(SOURCE_EXTS)]
                c.deps = {component_name(d) for d in fields["DEPS"]}
                components[c.name] = c
            elif cmd in ("add_library", "add_executable") and args:
                if "ALIAS" in args or "IMPORTED" in args or "$" in args[0]:
                    continue
                c = Component(component_name(args[0]), layer, rel)
                c.srcs = [os.path.normpath(os.path.join(base, s)) for s in args[1:] if s.endswith(SOURCE_EXTS)]
                components[c.name] = c
            elif cmd in ("target_link_libraries", "target_sources") and args:
                c = components.get(component_name(args[0]))
                if c is None:
                    continue
                for a in args[1:]:
                    if a in SCOPES or "$" in a:
                        continue
                    if cmd == "target_sources":
                        if a.endswith(SOURCE_EXTS):
                            c.srcs.append(os.path.normpath(os.path.join(base, a)))
                    else:
                        c.deps.add(component_name(a))
    return components, layers


def closure(components, name):
    seen, stack = set(), [name]
    while stack:
        for d in components[stack.pop()].deps:
            if d in components and d not in seen:
                seen.add(d)
                stack.append(d)
    return seen


def find_headers(root):
    headers = []
    for top in ("include", "src", "tests"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "data")  # fixtures are not part of the tree
            for fn in sorted(filenames):
                if fn.endswith(".hpp"):
                    headers.append(os.path.relpath(os.path.join(dirpath, fn), root))
    return headers


def header_owners(components, headers):
    """Maps header path -> owning component name, or None for header-only."""
    by_dir_stem = {}
    by_stem = {}
    for c in components.values():
        for s in c.srcs:
            if s.endswith(".cpp"):
                stem = os.path.splitext(os.path.basename(s))[0]
                by_dir_stem.setdefault((os.path.dirname(s), stem), set()).add(c.name)
                by_stem.setdefault(stem, set()).add(c.name)
    owners = {}
    for h in headers:
        d, stem = os.path.dirname(h), os.path.splitext(os.path.basename(h))[0]
        # Rule 1, then rule 2. A header claimed by several components has no
        # single owner and is treated as header-only.
        cands = by_stem.get(stem, set()) if d == os.path.join("include", "fetchpool") else by_dir_stem.get((d, stem), set())
        if not cands:
            for (sd, sstem), names in by_dir_stem.items():
                if sd == d and stem.startswith(sstem + "_"):
                    cands = cands | names
        owners[h] = next(iter(cands)) if len(cands) == 1 else None
    return owners


def resolve(root, includer, target):
    """Path (relative to root) of a quoted include, or None if outside the tree."""
    for base in (os.path.dirname(includer), "include", "src", "tests"):
        cand = os.path.normpath(os.path.join(base, target))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def includes_of(root, path, cache):
    if path not in cache:
        found = []
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if m:
                    found.append((lineno, m.group(1), resolve(root, path, m.group(1))))
        cache[path] = found
    return cache[path]


def header_layer(path, layers):
    parts = path.split(os.sep)
    if parts[0] == "tests":
        return "tests"
    if parts[0] == "src" and len(parts) > 2 and parts[1] in layers:
        return parts[1]
    return None


def check(root):
    components, layers = read_components(root)
    rank = {layer: i for i, layer in enumerate(layers)}
    headers = find_headers(root)
    owners = header_owners(components, headers)
    closures = {name: closure(components, name) for name in components}
    cache = {}
    violations = {}  # "file:line" -> message
    checked_files = set()

    def check_file(comp, path, via, visiting):
        checked_files.add(path)
        allowed = closures[comp.name] | {comp.name}
        for lineno, target, resolved in includes_of(root, path, cache):
            if resolved is None or not resolved.endswith(".hpp"):
                continue  # system or generated header, or not a header
            where = f"{path}:{lineno}"
            owner = owners.get(resolved)
            if owner is not None:
                if owner not in allowed:
                    violations[where] = (
                        f"{where}: component '{comp.name}' includes \"{target}\" of component '{owner}', "
                        f"which is not in its DEPS closure{via}"
                    )
                continue
            layer = header_layer(resolved, layers)
            if layer is not None and rank[layer] > rank[comp.layer]:
                violations[where] = (
                    f"{where}: component '{comp.name}' (layer {comp.layer}) includes header-only \"{target}\" "
                    f"of the higher layer {layer}{via}"
                )
            if resolved not in visiting:
                check_file(comp, resolved, f" (reached from {where} in component '{comp.name}')", visiting | {resolved})

    for comp in components.values():
        files = list(comp.srcs)
        files += [h for h, o in owners.items() if o == comp.name and h not in files]
        for path in files:
            if os.path.isfile(os.path.join(root, path)):
                check_file(comp, path, "", {path})

    summary = {
        "components": len(components),
        "headers": len(headers),
        "header_only": sorted(h for h, o in owners.items() if o is None),
        "files": len(checked_files),
    }
    return violations, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--expect", action="append", default=[], metavar="FILE:LINE")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    if not os.path.isfile(os.path.join(root, "src", "CMakeLists.txt")):
        print(f"check-includes: {root} has no src/CMakeLists.txt", file=sys.stderr)
        return 2

    violations, summary = check(root)
    for where in sorted(violations):
        print(violations[where])
    print(
        f"check-includes: {summary['files']} files of {summary['components']} components checked; "
        f"header-only: {', '.join(summary['header_only']) or 'none'}"
    )
    if args.expect:
        expected, found = set(args.expect), set(violations)
        if expected == found:
            print(f"check-includes: self-test OK, exactly the {len(expected)} planted violation(s) found")
            return 0
        for w in sorted(expected - found):
            print(f"check-includes: self-test: expected a violation at {w}, none found")
        for w in sorted(found - expected):
            print(f"check-includes: self-test: unexpected violation at {w}")
        return 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
