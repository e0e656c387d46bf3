#!/usr/bin/env python3
"""Checks two rules of the source layout, for every crate under crates/:

1. No two source files import each other. A file imports another when it names a
   path into it: `crate::a::b`, `super::x`, `self::x`, or a child module it declares
   with `mod` (so a `mod.rs` that defines what its children use is a cycle too).
2. No source file is over 500 lines, not counting a trailing `#[cfg(test)]` module;
   test files (under tests/ or named *tests.rs) are not counted.

Prints each violation and exits with 1 when there is any.
"""
import itertools
import os
import re
import sys

MAX_LINES = 500
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_path(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def without_tests_and_comments(text):
    text = re.sub(r"#\[cfg\(test\)\]\s*(#\[path[^\]]*\]\s*)?mod tests\s*\{.*", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def deepest_module(files, start, segments):
    """The deepest module file that `start::segments...` reaches."""
    path, best = start, start
    for seg in segments:
        path = path + (seg,)
        if path in files:
            best = path
    return best


def imports_of(files, me, text):
    found = set()

    def add(base, rest, end):
        best = deepest_module(files, base, rest)
        after = text[end:end + 400]
        if after.startswith("::{"):
            for item in after[3:after.find("}")].split(","):
                segs = [s.strip() for s in item.split("::") if s.strip()]
                found.add(deepest_module(files, best, segs))
        found.add(best)

    for m in re.finditer(rf"\b(crate|super|self)((?:::{IDENT})+)", text):
        rest = m.group(2).split("::")[1:]
        if m.group(1) == "crate":
            base = ()
        elif m.group(1) == "self":
            base = me
        else:
            base = me[:-1]
            while rest and rest[0] == "super":
                rest, base = rest[1:], base[:-1]
        add(base, rest, m.end())
    for child in re.findall(rf"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+({IDENT})\s*;", text, flags=re.M):
        for m in re.finditer(rf"(?<![:\w]){child}((?:::{IDENT})+)", text):
            add(me + (child,), m.group(1).split("::")[1:], m.end())
    found.discard(me)
    return {f for f in found if f in files}


def main(root):
    problems = []
    for crate in sorted(os.listdir(root)):
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src):
            continue
        files = {}
        for d, _, names in os.walk(src):
            for n in names:
                if n.endswith(".rs"):
                    p = os.path.join(d, n)
                    files[module_path(src, p)] = p
        edges = {}
        for mod, path in files.items():
            raw = open(path, encoding="utf-8").read()
            text = without_tests_and_comments(raw)
            edges[mod] = imports_of(files, mod, text)
            counted = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", raw, flags=re.S)
            lines = counted.count("\n")
            if lines > MAX_LINES and not path.endswith("tests.rs"):
                problems.append(f"{path}: {lines} lines (over {MAX_LINES})")
        for a, b in itertools.combinations(sorted(files), 2):
            if b in edges[a] and a in edges[b]:
                problems.append(f"{files[a]} <-> {files[b]}: import each other")
    for p in problems:
        print(p)
    print(f"{len(problems)} structure problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "crates"))
