#!/usr/bin/env python3
"""Checks that the modules of taskloom-runtime import each other without rings.

A ring (A uses B, B uses A, directly or through others) means two concerns cannot be
read, tested or put behind a Cargo feature apart. This script reads every `.rs` file
of `crates/taskloom-runtime/src`, collects what each module names of the crate (`use
crate::...`, `use super::...`, `use self::...`, `use child::...`, and inline
`crate::x::y`, `super::x` paths; comments, strings and `#[cfg(test)]` modules are
skipped), and builds two kinds of dependency graph:

- the top level: one node per top-level module of the crate (`graph`, `executor`, ...);
- inside each directory module (`executor/`, `remote/`, `link/`, ...): one node per
  child module, an edge when one child names another. Edges between a module and its
  own parent or child are ignored (a `mod.rs` re-exports its children, children use
  what their `mod.rs` defines).

A path is resolved to the module that defines the item where the script can tell: a
`pub use` re-export (in a `mod.rs`, in `lib.rs`) is followed to the module it names, so
`crate::executor::Job` counts as a use of `executor::job`, and `crate::executor::Worker`
of `worker` if `executor` only re-exports it.

Every ring is printed with the lines that make each of its edges, and the script exits
with status 1. A ring that is kept on purpose is listed in ALLOWED below, edge by edge,
each with the reason; the design chapter of the guide explains each one.

Plain Python 3, no dependencies. Usage: `python3 scripts/check_layers.py [SRC_DIR]`.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# --------------------------------------------------------------------------------------
# Rings kept on purpose. Each entry allows the uses of `dst` (a module path, `*` for
# any) made in `src` (a module path, its submodules included); `items` narrows it to
# uses of those names. An edge whose every use is allowed is dropped before looking
# for rings. An entry that allows nothing any more is reported (not an error): delete
# it.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allow:
    src: str
    dst: str
    why: str
    items: tuple[str, ...] = ()


ALLOWED: list[Allow] = [
    # A completion is owed to its computation: it holds the computation's `Scope` and,
    # when reported or dropped, sends itself down the scope's channel (`Sink`), whose
    # messages carry completions. Scope -> Sink -> Message -> Completion -> Scope is
    # one type cycle, and it is the guard that makes a hang impossible: a completion
    # that could not reach its computation could be lost. Kept as three small files
    # of one concern (the way back to the loop) rather than one file of three.
    Allow(
        src="executor::completion",
        dst="executor::scope",
        why="a completion is owed to its computation's scope, whose channel carries it",
    ),
    # `remote` is the public face of worker processes: `init` and `is_worker` (the
    # worker entry point, beside the `Registry` it takes), and the `Settings` both
    # executors share (with its defaults) are re-exported there, where users look for
    # them; the code is the link's (the serve loop, which calls the registry's
    # functions, and the frame limits). The hidden test hooks follow the same path. A
    # re-export is a path, not a use: nothing in `remote` calls them.
    Allow(
        src="remote",
        dst="*",
        items=(
            "init",
            "is_worker",
            "Settings",
            "DEFAULT_HANDSHAKE_TIMEOUT",
            "DEFAULT_MAX_FRAME_LENGTH",
            "held_here",
            "__write_raw_to_pool",
        ),
        why="public re-exports of the worker entry point and the worker settings",
    ),
]

# --------------------------------------------------------------------------------------
# Reading Rust source
# --------------------------------------------------------------------------------------

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
CHAR_LITERAL = re.compile(r"'(?:\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])'")


def blank(text: str) -> str:
    """`text` with comments, string and char literals replaced by spaces (newlines
    kept, so offsets and line numbers stay valid)."""
    out = list(text)
    i, n = 0, len(text)

    def wipe(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not re.match(r"\w", text[i - 1]) or text[i - 1] == "b"):
            m = re.match(r'r(#*)"', text[i:])
            hashes = m.group(1)
            end = text.find('"' + hashes, i + m.end())
            j = n if end < 0 else end + 1 + len(hashes)
            wipe(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            wipe(i, j + 1)
            i = j + 1
        elif c == "'":
            m = CHAR_LITERAL.match(text, i)
            if m:
                wipe(i, m.end())
                i = m.end()
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


def matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(text)


INLINE_MOD = re.compile(
    r"(?P<test>#\[cfg\(test\)\]\s*)?(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(?P<name>" + IDENT + r")\s*\{"
)
USE = re.compile(r"(?<![\w:])(?P<vis>pub(?:\([^)]*\))?\s+)?\buse\s+(?P<tree>[^;]+);")
INLINE_PATH = re.compile(r"(?<![\w:$])(?:crate|super|self)(?:\s*::\s*(?:" + IDENT + r"))+")
DEFINITION = re.compile(
    r"\b(?:fn|struct|enum|trait|type|union|mod)\s+(" + IDENT + r")"
    r"|\b(?:const|static)\s+(?:mut\s+)?(?!fn\b)(" + IDENT + r")\s*:"
    r"|\bmacro_rules!\s*(" + IDENT + r")"
)


def parse_use_tree(tree: str) -> list[tuple[list[str], str]]:
    """The leaves of a use tree: (path segments, name it binds). `self` leaves bind
    their parent path; a glob binds `*`."""
    tokens = re.findall(IDENT + r"|::|\{|\}|,|\*", tree)
    pos = 0

    def parse(prefix: list[str]) -> list[tuple[list[str], str]]:
        nonlocal pos
        path = list(prefix)
        leaves: list[tuple[list[str], str]] = []
        while pos < len(tokens):
            t = tokens[pos]
            if t == "::":
                pos += 1
            elif t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    if tokens[pos] == ",":
                        pos += 1
                        continue
                    leaves += parse(path)
                pos += 1  # the closing brace
                return leaves
            elif t in (",", "}"):
                break
            elif t == "*":
                pos += 1
                return leaves + [(path, "*")]
            elif t == "as":
                pos += 1
                alias = tokens[pos] if pos < len(tokens) else "_"
                pos += 1
                return leaves + [(path, alias)]
            elif t == "self" and (pos + 1 >= len(tokens) or tokens[pos + 1] != "::"):
                # `{self, ...}`: the path of the braces itself.
                pos += 1
                if pos < len(tokens) and tokens[pos] == "as":
                    pos += 1
                    alias = tokens[pos]
                    pos += 1
                    return leaves + [(path, alias)]
                return leaves + [(path, path[-1])]
            else:
                path.append(t)
                pos += 1
        if path != prefix:
            leaves.append((path, path[-1]))
        return leaves

    return parse([])


@dataclass
class Use:
    """One path of the crate named in one module's code."""

    module: tuple[str, ...]  # the file's module
    scope: tuple[str, ...]  # where `self`/`super` resolve (inline modules included)
    path: list[str]
    item: str  # the name it ends with
    file: str
    line: int
    text: str
    reexport: bool  # a `pub use`


@dataclass
class Module:
    path: tuple[str, ...]
    file: Path
    definitions: set[str]
    reexports: dict[str, list[str]]  # name -> absolute path, from `pub use`
    globs: list[list[str]]  # absolute paths of `pub use x::*`
    uses: list[Use]


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts == ["lib"] or parts == ["main"]:
        return ()
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def read_crate(src: Path) -> dict[tuple[str, ...], Module]:
    modules: dict[tuple[str, ...], Module] = {}
    raw: dict[tuple[str, ...], tuple[Path, str, str]] = {}
    for file in sorted(src.rglob("*.rs")):
        path = module_path(src, file)
        original = file.read_text(encoding="utf-8")
        raw[path] = (file, original, blank(original))
    known = set(raw)
    for path, (file, original, text) in raw.items():
        lines = original.splitlines()
        # Inline modules: (start, end, name, is_test).
        inline = []
        for m in INLINE_MOD.finditer(text):
            open_at = m.end() - 1
            inline.append((m.start(), matching_brace(text, open_at), m.group("name"), bool(m.group("test"))))

        def scope_at(offset: int) -> tuple[tuple[str, ...], bool]:
            scope, test = path, False
            for start, end, name, is_test in inline:
                if start <= offset <= end:
                    scope = scope + (name,)
                    test = test or is_test
            return scope, test

        def line_of(offset: int) -> int:
            return text.count("\n", 0, offset) + 1

        definitions: set[str] = set()
        for m in DEFINITION.finditer(text):
            if not scope_at(m.start())[1]:
                definitions.add(next(g for g in m.groups() if g))
        uses: list[Use] = []
        reexports: dict[str, list[str]] = {}
        globs: list[list[str]] = []
        spans = []
        for m in USE.finditer(text):
            spans.append((m.start(), m.end()))
            scope, test = scope_at(m.start())
            if test:
                continue
            line = line_of(m.start())
            reexport = bool(m.group("vis"))
            for segs, binds in parse_use_tree(m.group("tree")):
                absolute = normalize(segs, scope, known)
                if absolute is None:
                    continue
                if reexport and scope == path:
                    if binds == "*":
                        globs.append(absolute)
                    else:
                        reexports[binds] = absolute
                uses.append(
                    Use(path, scope, absolute, segs[-1] if segs else "", str(file), line,
                        lines[line - 1].strip() if line <= len(lines) else "", reexport)
                )
        for m in INLINE_PATH.finditer(text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            scope, test = scope_at(m.start())
            if test:
                continue
            segs = re.findall(IDENT, m.group(0))
            absolute = normalize(segs, scope, known)
            if absolute is None:
                continue
            line = line_of(m.start())
            uses.append(
                Use(path, scope, absolute, segs[-1], str(file), line,
                    lines[line - 1].strip() if line <= len(lines) else "", False)
            )
        modules[path] = Module(path, file, definitions, reexports, globs, uses)
    return modules


def normalize(segs: list[str], scope: tuple[str, ...], known: set[tuple[str, ...]]) -> list[str] | None:
    """`segs` as a path from the crate root, or None for another crate's path."""
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    base = list(scope)
    rest = list(segs)
    if rest[0] in ("self", "super"):
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                if not base:
                    return None
                base.pop()
            rest.pop(0)
        return base + rest
    # A bare path names a child module of the scope (2018 paths), or another crate.
    if tuple(base + [rest[0]]) in known:
        return base + rest
    return None


def resolve(modules: dict, path: list[str], seen: int = 0) -> tuple[str, ...] | None:
    """The module that defines what `path` names, following re-exports."""
    k = len(path)
    while k > 0 and tuple(path[:k]) not in modules:
        k -= 1
    module = tuple(path[:k])
    if module not in modules:
        return None
    rest = path[k:]
    if not rest or seen > 16:
        return module
    item = rest[0]
    info = modules[module]
    if item in info.reexports and item not in info.definitions:
        return resolve(modules, info.reexports[item] + rest[1:], seen + 1)
    if item not in info.definitions:
        for glob in info.globs:
            target = resolve(modules, glob, seen + 1)
            if target is not None and target in modules:
                t = modules[target]
                if item in t.definitions or item in t.reexports:
                    return resolve(modules, list(target) + rest, seen + 1)
    return module


# --------------------------------------------------------------------------------------
# Graphs and rings
# --------------------------------------------------------------------------------------


def name(path: tuple[str, ...]) -> str:
    return "::".join(path) if path else "crate"


def allowed(use: Use, src: tuple[str, ...], dst: tuple[str, ...]) -> Allow | None:
    for rule in ALLOWED:
        s = tuple(rule.src.split("::"))
        if src[: len(s)] != s:
            continue
        if rule.dst != "*":
            d = tuple(rule.dst.split("::"))
            if dst[: len(d)] != d:
                continue
        if rule.items and use.item not in rule.items:
            continue
        return rule
    return None


def tarjan(nodes: set, edges: dict) -> list[list]:
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list[list] = []
    counter = [0]

    def visit(v) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def cycles(component: list, edges: dict, limit: int = 12) -> list[list]:
    """Elementary cycles inside one strongly connected component, shortest first."""
    members = set(component)
    found: list[list] = []
    for start in sorted(component):
        # Cycles whose smallest node is `start`.
        stack = [(start, [start])]
        while stack:
            v, walk = stack.pop()
            for w in sorted(edges.get(v, ()), reverse=True):
                if w not in members or w < start:
                    continue
                if w == start:
                    found.append(walk + [start])
                elif w not in walk and len(walk) < len(component):
                    stack.append((w, walk + [w]))
    found.sort(key=lambda c: (len(c), c))
    return found[:limit]


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "crates/taskloom-runtime/src"
    if not src.is_dir():
        print(f"check_layers: no such directory: {src}", file=sys.stderr)
        return 2
    modules = read_crate(src)

    # graph key: () for the top level, a directory module's path for its children.
    edges: dict[tuple, dict] = defaultdict(lambda: defaultdict(set))
    evidence: dict[tuple, list[Use]] = defaultdict(list)
    allowed_by: dict[tuple, list[Allow]] = defaultdict(list)
    nodes: dict[tuple, set] = defaultdict(set)
    used_rules: set[int] = set()
    parents = {p[:-1] for p in modules if p}
    for path in modules:
        if path:
            nodes[path[:-1]].add(path)

    for module in modules.values():
        for use in module.uses:
            dst = resolve(modules, use.path)
            here = use.module
            if dst is None or not here:
                continue
            for level in range(0, len(here)):
                graph = here[:level]
                if dst[:level] != graph or len(dst) <= level:
                    continue
                a, b = here[: level + 1], dst[: level + 1]
                if a == b:
                    continue
                rule = allowed(use, here, dst)
                key = (graph, a, b)
                evidence[key].append(use)
                if rule is not None:
                    used_rules.add(id(rule))
                    allowed_by[key].append(rule)
                else:
                    edges[graph][a].add(b)

    rel = str(src.relative_to(root)) if src.is_relative_to(root) else str(src)
    total_edges = sum(len(v) for g in edges.values() for v in g.values())
    print(f"check_layers: {rel}: {len(modules)} modules, {total_edges} edges between siblings")
    rings = 0
    for graph in sorted(set(nodes) & (parents | {()})):
        label = "top level" if not graph else name(graph) + "/"
        components = tarjan(nodes[graph], edges[graph])
        if not components:
            print(f"  {label}: no rings")
            continue
        for component in components:
            rings += 1
            short = ", ".join(c[-1] for c in component)
            where = "crate" if not graph else name(graph)
            print(f"  {label}: RING between {where}::{{{short}}}")
            for a in component:
                for b in sorted(edges[graph].get(a, ())):
                    if b not in component:
                        continue
                    uses = evidence[(graph, a, b)]
                    print(f"    {name(a)} -> {name(b)}")
                    seen = set()
                    for use in uses:
                        if (use.file, use.line) in seen or allowed(use, use.module, b):
                            continue
                        seen.add((use.file, use.line))
                        file = Path(use.file)
                        shown = file.relative_to(root) if file.is_relative_to(root) else file
                        print(f"      {shown}:{use.line}: {use.text}")
            for cycle in cycles(component, edges[graph]):
                print("    cycle: " + " -> ".join(c[-1] for c in cycle))
    for (graph, a, b), rules in sorted(allowed_by.items()):
        if b in edges[graph].get(a, ()):
            continue  # partly allowed: the rest of its uses count
        print(f"  allowed: {name(a)} -> {name(b)} ({rules[0].why})")
    for rule in ALLOWED:
        if id(rule) not in used_rules:
            print(f"  note: the allowance {rule.src} -> {rule.dst} matches nothing any more; delete it")
    if rings:
        print(f"check_layers: {rings} ring(s) of imports; break each, or allow it with a reason "
              f"in scripts/check_layers.py")
        return 1
    print("check_layers: no rings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
