#!/usr/bin/env python3
"""Memory under real data, taskloom and Dask side by side: one command, one table.

Runs as `scripts/py scripts/memory_compare.py` (the project's Python environment),
from the repository root:

    scripts/py scripts/memory_compare.py [--repeat 3] [--mib 1] \
        [--configs sync,threads:1,threads:2,threads:4] [--sizes declared,undeclared] \
        [--budget-mib B] [--out memory.jsonl] [GRAPH.json...]
    scripts/py scripts/memory_compare.py --from memory.jsonl   # table again

Graphs default to the corpus (corpus/dask/*.json). For each graph and configuration
it runs, in a fresh process each time (so peak RSS is the graph's own):

- `sync`: taskloom's `current-thread` executor and Dask's synchronous scheduler (one
  worker);
- `threads:N`: taskloom's `threads` executor and Dask's threaded scheduler, N workers;

`--repeat` times each (`cargo run --release --example memory` and
scripts/dask_memory.py; every task makes a buffer of `--mib` MiB), and prints a
Markdown table of the medians: peak results held and peak RSS above the process's RSS
at the start of the computation, taskloom against Dask, next to the static order's
own max pressure (taskloom's `order::diagnostics`, from the core's `order_pressure`
example) and `dask.order`'s at its best hash seed (from corpus/dask.json). taskloom's
held figures are its scheduling loop's own count (the example's live-buffer gauge is
kept in the raw lines as `gauge_peak_held`). The static pressure does not count the
requested results nor the result being made; the run counts do. `--sizes` says how
taskloom's tasks are added: `declared` (each buffer reports its size, `add_sized`),
`undeclared` (plain `add`, as most users write them: the scheduler is told nothing),
or both; an undeclared run is configuration `X undeclared`, set against Dask's run of
configuration `X` (Dask is run once per configuration). With `--budget-mib B`
every threaded configuration is also run on taskloom with a byte budget of `B` MiB
(`--memory-limit-mib`; Dask has none): held, RSS, and the overruns where a graph
needs more than `B` at once. `--malloc-trim` runs both systems with glibc's trim
threshold at 0 (freed memory goes back to the kernel at once): where both hold as
many results, RSS then compares the data rather than what glibc keeps at the top
of a heap, which moves either figure by up to a MiB. The seven graphs marked * are the real array and bag
graphs the memory work started from. Every raw run goes to `--out` as one
JSON line, so `--from` redraws the table.

Dask runs under the interpreter's random hash seed, as its users' programs do: its
order iterates sets, so even its synchronous figures can differ from run to run
(array_matmul held 296 or 303); hence the medians.

A run holding at most (workers + 1) more results than the static plan meets the memory
"moonshot": the plan the order makes is the memory the run uses. The summary lines
count, per configuration, the graphs where taskloom holds no more than Dask (and has
no higher RSS), and those within (workers + 1) of its plan, and name the others.
"""
import argparse
import glob
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

# Outside the project's Python environment, say which one to use rather than fail
# on an import.
_missing = [m for m in ('dask', 'numpy') if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"memory_compare.py: no module named {', '.join(_missing)}: run it as "
             "`scripts/py scripts/memory_compare.py ...` (the project's Python environment)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Seven real array and bag graphs of the corpus: where the memory work started.
SEVEN = [
    "array_sum_split_every", "array_anomaly", "array_matmul", "array_map_overlap",
    "array_svd", "bag_foldby", "bag_groupby",
]


def run_json_lines(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def build():
    for cmd in (["cargo", "build", "--release", "-q", "--example", "memory"],
                ["cargo", "build", "--release", "-q", "-p", "taskloom-core",
                 "--features", "serde", "--example", "order_pressure"]):
        subprocess.run(cmd, check=True, cwd=ROOT)
    examples = os.path.join(ROOT, "target", "release", "examples")
    return os.path.join(examples, "memory"), os.path.join(examples, "order_pressure")


def parse_config(text):
    """`sync` or `threads:N` -> (label, workers, taskloom args, Dask args)."""
    if text == "sync":
        return ("sync", 1, ["--executor", "current-thread"], ["--executor", "sync"])
    kind, _, n = text.partition(":")
    if kind != "threads" or not n.isdigit() or int(n) < 1:
        sys.exit(f"unknown configuration {text!r} (sync, threads:N)")
    args = ["--executor", "threads", "--workers", n]
    return (text, int(n), args, args)


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def measure(args, graphs):
    memory, order_pressure = build()
    rows = []
    static = run_json_lines([order_pressure, "--no-timing", *graphs])
    for s in static:
        rows.append({"kind": "static", "graph": s["graph"], "tasks": s["tasks"],
                     "max_pressure": s["max_pressure"],
                     "one_worker_held": s["one_worker_held"]})
    rows.append({"kind": "load", "when": "start", "loadavg": load_avg()})
    python = sys.executable
    dask_script = os.path.join(ROOT, "scripts", "dask_memory.py")
    env = dict(os.environ)
    if args.malloc_trim:
        # Both programs: glibc gives freed memory back to the kernel at once, so RSS
        # follows the live data, not what the allocator keeps at the top of a heap.
        env["GLIBC_TUNABLES"] = "glibc.malloc.trim_threshold=0"
    rows.append({"kind": "env", "glibc_tunables": env.get("GLIBC_TUNABLES", "")})
    configs = [parse_config(c) for c in args.configs.split(",")]
    sizes = args.sizes.split(",")
    unknown = [x for x in sizes if x not in ("declared", "undeclared")]
    if unknown or not sizes:
        sys.exit(f"--sizes: {','.join(unknown)} (declared, undeclared)")
    mib = ["--mib", str(args.mib)]
    for path in graphs:
        for label, workers, tl_args, dask_args in configs:
            for rep in range(args.repeat):
                runs = []
                if "declared" in sizes:
                    runs.append(("taskloom", label, [memory, *tl_args, *mib, path]))
                if "undeclared" in sizes:
                    runs.append(("taskloom", f"{label} undeclared",
                                 [memory, *tl_args, *mib, "--sizes", "undeclared", path]))
                runs.append(("dask", label, [python, dask_script, *dask_args, *mib, path]))
                if args.budget_mib is not None and label != "sync":
                    budget = ["--memory-limit-mib", f"{args.budget_mib:g}"]
                    runs.append(("taskloom", f"{label} budget {args.budget_mib:g} MiB",
                                 [memory, *tl_args, *mib, *budget, path]))
                for system, config, cmd in runs:
                    (r,) = run_json_lines(cmd, env)
                    r.update(kind="run", config=config, repeat=rep, who=system)
                    rows.append(r)
                    print(f"{r['graph']:28} {config:10} {system:9} held {r['peak_held']:4} "
                          f"rss {r['peak_rss_bytes'] / 2**20:7.1f} MiB "
                          f"{r['seconds']:6.2f} s", file=sys.stderr, flush=True)
    rows.append({"kind": "load", "when": "end", "loadavg": load_avg()})
    return rows


def table(rows, manifest):
    static = {r["graph"]: r for r in rows if r["kind"] == "static"}
    loads = [r["loadavg"] for r in rows if r["kind"] == "load"]
    runs = {}
    configs = []
    for r in rows:
        if r["kind"] != "run":
            continue
        if r["config"] not in configs:
            configs.append(r["config"])
        runs.setdefault((r["graph"], r["config"], r["who"]), []).append(r)
    dask_order = {g["name"]: g["dask_max_pressure"] for g in manifest.get("graphs", [])}
    mib = next((r["mib"] for r in rows if r["kind"] == "run"), 1)
    budgeted = [c for c in configs if "budget" in c]
    compared = [c for c in configs if c not in budgeted]

    def dask_of(config, who):
        # An undeclared run is set against Dask's run of the same configuration.
        return config.removesuffix(" undeclared") if who == "dask" else config

    def med(graph, config, who, field):
        rs = runs.get((graph, dask_of(config, who), who))
        if not rs:
            return None
        return statistics.median(r.get(field, 0) or 0 for r in rs)

    def rss(graph, config, who):
        rs = runs.get((graph, dask_of(config, who), who))
        if not rs:
            return None
        return statistics.median(r["peak_rss_bytes"] - r["base_rss_bytes"] for r in rs) / 2**20

    def fmt(x, digits=0):
        if x is None:
            return "–"
        return f"{x:.{digits}f}"

    def one_worker(s):
        # Older runs named it after the LIFO stack State used to have.
        return s.get("one_worker_held", s.get("lifo_one_worker_held", "–"))

    out = []
    head = ["graph", "tasks", "static order (taskloom)", "dask.order (best seed)",
            "one worker driving State"]
    for c in compared:
        head += [f"{c}: held taskloom", f"{c}: held Dask",
                 f"{c}: RSS MiB taskloom", f"{c}: RSS MiB Dask"]
    for c in budgeted:
        head += [f"{c}: held", f"{c}: RSS MiB", f"{c}: overruns"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|---|" + "---:|" * (len(head) - 1))
    graphs = list(static) or sorted({g for g, _, _ in runs})
    graphs.sort(key=lambda g: (g not in SEVEN, SEVEN.index(g) if g in SEVEN else 0, g))
    summary = {c: {"held_le": 0, "rss_le": 0, "n": 0, "plan": 0, "held_le7": 0, "n7": 0,
                   "held_miss": [], "rss_miss": [], "plan_miss": [], "gauge": 0}
               for c in configs}
    for g in graphs:
        s = static.get(g, {})
        cells = [g + (" *" if g in SEVEN else ""), str(s.get("tasks", "–")),
                 str(s.get("max_pressure", "–")), str(dask_order.get(g, "–")),
                 str(one_worker(s))]
        for c in compared + budgeted:
            ht = med(g, c, "taskloom", "peak_held")
            rt = rss(g, c, "taskloom")
            sm = summary[c]
            if ht is None:
                cells += ["–"] * (4 if c in compared else 3)
                continue
            trs = runs[(g, c, "taskloom")]
            workers = trs[0]["workers"]
            sm["gauge"] = max(sm["gauge"], max(r.get("gauge_peak_held", r["peak_held"])
                                               - r["peak_held"] for r in trs))
            if "max_pressure" in s:
                bound = s["max_pressure"] + workers + 1
                if ht <= bound:
                    sm["plan"] += 1
                else:
                    sm["plan_miss"].append(f"{g} {ht:.0f} > {bound}")
            if c in budgeted:
                cells += [fmt(ht), fmt(rt, 1), fmt(med(g, c, "taskloom", "overruns"))]
                sm["n"] += 1
                continue
            hd, rd = med(g, c, "dask", "peak_held"), rss(g, c, "dask")
            cells += [fmt(ht), fmt(hd), fmt(rt, 1), fmt(rd, 1)]
            if hd is not None:
                sm["n"] += 1
                if ht <= hd:
                    sm["held_le"] += 1
                    sm["held_le7"] += g in SEVEN
                else:
                    sm["held_miss"].append(f"{g} {ht:.0f} / {hd:.0f}")
                if rt <= rd:
                    sm["rss_le"] += 1
                else:
                    sm["rss_miss"].append(f"{g} {rt:.1f} / {rd:.1f}")
                sm["n7"] += g in SEVEN
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for c in compared + budgeted:
        sm = summary[c]
        plan = (f"within (workers + 1) of its static order's pressure on {sm['plan']} of "
                f"{sm['n']}" + (f" (not: {'; '.join(sm['plan_miss'])})" if sm["plan_miss"] else ""))
        if c in budgeted:
            rs = [r for r in rows if r["kind"] == "run" and r["config"] == c]
            clean = [r for r in rs if not r.get("overruns")]
            within = sum(r["peak_held_bytes"] <= (r.get("memory_limit_bytes") or 0)
                         + r["mib"] * 2**20 + 64 for r in clean)
            over = sorted({r["graph"] for r in rs if r.get("overruns")})
            out.append(f"- {c}: no overrun in {len(clean)} of {len(rs)} runs, and in "
                       f"{within} of those the bytes held stayed within the budget plus one "
                       f"result; overruns on {len(over)} graphs whose plan needs more at once "
                       f"(they proceed one task at a time while over it); {plan}.")
            continue
        held = (f"taskloom holds no more than Dask on {sm['held_le']} of {sm['n']} graphs "
                f"({sm['held_le7']} of {sm['n7']} of the seven *)"
                + (f" (more: {'; '.join(sm['held_miss'])})" if sm["held_miss"] else ""))
        rss_line = (f"peak RSS above start no more than Dask's on {sm['rss_le']}"
                    + (f" (more, MiB: {'; '.join(sm['rss_miss'])})" if sm["rss_miss"] else ""))
        out.append(f"- {c}: {held}; {rss_line}; {plan}.")
    gauge = max((summary[c]["gauge"] for c in configs), default=0)
    out.append(f"- taskloom's held figures are its loop's own count; the live-buffer gauge "
               f"saw at most {gauge:.0f} more in any run (results made by a worker and not "
               f"yet received by the loop).")
    base = {}
    for r in rows:
        if r["kind"] == "run":
            base.setdefault(r["who"], []).append(r["base_rss_bytes"] / 2**20)
    if base:
        out.append("- RSS columns: peak RSS above the RSS when the computation started; "
                   "at the start the processes held (median) "
                   + ", ".join(f"{who} {statistics.median(v):.0f} MiB"
                               for who, v in sorted(base.items()))
                   + " (Dask's with the interpreter, NumPy and pandas loaded).")
    tunables = next((r["glibc_tunables"] for r in rows if r["kind"] == "env"), "")
    if tunables:
        out.append(f"- both systems ran with GLIBC_TUNABLES={tunables}.")
    reps = max((r["repeat"] for r in rows if r["kind"] == "run"), default=0) + 1
    out.append(f"- medians of {reps} runs, every task a {mib:g} MiB buffer; "
               f"load average (1, 5, 15 min) at start and end: {' / '.join(loads)}.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mib", type=float, default=1.0)
    ap.add_argument("--configs", default="sync,threads:2")
    ap.add_argument("--sizes", default="declared",
                    help="declared, undeclared, or both (comma-separated)")
    ap.add_argument("--malloc-trim", action="store_true",
                    help="run both systems with GLIBC_TUNABLES=glibc.malloc.trim_threshold=0")
    ap.add_argument("--budget-mib", type=float,
                    help="also run taskloom's threaded configurations with this byte budget")
    ap.add_argument("--out", help="write every raw run here (JSON lines)")
    ap.add_argument("--from", dest="from_", help="make the table from an --out file")
    ap.add_argument("--seven", action="store_true", help="only the seven graphs marked *")
    args = ap.parse_args()

    with open(os.path.join(ROOT, "corpus", "dask.json")) as f:
        manifest = json.load(f)
    if args.from_:
        with open(args.from_) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    else:
        graphs = args.graphs or sorted(glob.glob(os.path.join(ROOT, "corpus", "dask", "*.json")))
        if args.seven:
            graphs = [os.path.join(ROOT, "corpus", "dask", f"{g}.json") for g in SEVEN]
        t0 = time.time()
        rows = measure(args, graphs)
        print(f"measured in {time.time() - t0:.0f} s", file=sys.stderr)
        if args.out:
            with open(args.out, "w") as f:
                for r in rows:
                    f.write(json.dumps(r) + "\n")
    print(table(rows, manifest))


if __name__ == "__main__":
    main()
