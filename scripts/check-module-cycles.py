#!/usr/bin/env python3
"""Lists pairs of source files that import each other (file-level import cycles) in each crate.

A file imports another when it names a path into it (`crate::a::b`, `super::x`, or a child module
declared with `mod`). Exit status 1 when any pair imports each other."""
import os, re, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else "crates"
def modpath(src, f):
    rel = os.path.relpath(f, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"): rel = rel[:-1]
    return tuple(rel)
pairs = []
for crate in sorted(os.listdir(root)):
    src = os.path.join(root, crate, "src")
    if not os.path.isdir(src): continue
    files = {}
    for d, _, fs in os.walk(src):
        for f in fs:
            if f.endswith(".rs"): files[modpath(src, os.path.join(d, f))] = os.path.join(d, f)
    edges = {}
    for mp, f in files.items():
        text = open(f).read()
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        targets = set()
        # expand grouped uses roughly: take each path start
        for m in re.finditer(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
            base, rest = m.group(1), m.group(2).split("::")[1:]
            if base == "crate": cur = ()
            elif base == "self": cur = mp if not f.endswith("mod.rs") and not f.endswith("lib.rs") else mp
            else:
                cur = mp[:-1]
                while rest and rest[0] == "super": rest = rest[1:]; cur = cur[:-1]
            if base == "self" and not (f.endswith("mod.rs") or f.endswith("lib.rs") or f.endswith("main.rs")):
                cur = mp
            path = cur
            best = cur
            for seg in rest:
                path = path + (seg,)
                if path in files: best = path
            # grouped: crate::a::{b, c::d}
            after = text[m.end():m.end()+400]
            if after.startswith("::{"):
                body = after[3:after.find("}")]
                for item in body.split(","):
                    segs = [s.strip() for s in item.strip().split("::") if s.strip()]
                    p = best; b2 = best
                    for seg in segs:
                        p = p + (seg,)
                        if p in files: b2 = p
                    if b2 != mp: targets.add(b2)
            if best != mp: targets.add(best)
        for sub in re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", text, flags=re.M):
            child = mp + (sub,)
            for m in re.finditer(r"(?<![:\w])" + sub + r"((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
                p = child; best = child
                for seg in m.group(1).split("::")[1:]:
                    p = p + (seg,)
                    if p in files: best = p
                after = text[m.end():m.end()+400]
                if after.startswith("::{"):
                    body = after[3:after.find("}")]
                    for item in body.split(","):
                        segs = [x.strip() for x in item.strip().split("::") if x.strip()]
                        q = best; b2 = best
                        for seg in segs:
                            q = q + (seg,)
                            if q in files: b2 = q
                        if b2 != mp: targets.add(b2)
                if best in files: targets.add(best)
        edges[mp] = targets
    for a, b in itertools.combinations(sorted(files), 2):
        if b in edges[a] and a in edges[b]:
            pairs.append((files[a], files[b]))
for a, b in pairs: print(f"{a} <-> {b}")
print(f"{len(pairs)} pairs of files import each other", file=sys.stderr)
sys.exit(1 if pairs else 0)
