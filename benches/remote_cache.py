#!/usr/bin/env python3
"""Machine B building what machine A built, with A's layer cache in a loopback registry,
against B building cold, side by side in one run.

    python3 benches/remote_cache.py [--reps N] [--workloads b,c] [--inputs DIR] [--compose BIN]

Workloads (as in compare.py): (b) a Debian-sized rootfs (gen-rootfs.py --size-mb 200
--files 7000 --seed 1); (c) a large one (--size-mb 1024 --files 100000). Machine A builds
each once, untimed, with `--cache-to REF` into a registry (CNCF distribution 2.8,
../shared/tools/start-registry) on 127.0.0.1 over plain HTTP. Then, per timed run, B
starts from an empty cache directory (a CI runner) and writes a docker-archive:

  B cold          compose build (the input read, merged and compressed)
  B --cache-from  compose build --cache-from REF (the layer fetched, verified, used)

Both hash the local input (its digest is part of the layer key). Wall and CPU times come
from os.wait4, peak RSS from GNU time, as in compare.py; the load average is printed with
the numbers (the machine may be shared). The targets of issue 21 are checked at the end:
B with the cache at least 3x faster than B cold on (b), 5x on (c).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import Result, Step, log, rm, run_tool, fmt_time, fmt_size  # noqa: E402

REPO = compare.REPO
SHARED = REPO / ".." / "shared"
TITLES = {"b": "(b) Debian-sized rootfs: 200 MB, 7,000 files",
          "c": "(c) 1 GiB, 100,000 files"}
TARGETS = {"b": 3, "c": 5}


def start_registry(d):
    out = subprocess.run(["bash", SHARED / "tools" / "start-registry", d],
                         capture_output=True, text=True, check=True).stdout
    return next(w.split("=", 1)[1] for w in out.split()
                if w.startswith("SCRATCH_TEST_REGISTRY="))


def stop_registry(d):
    subprocess.run(["bash", SHARED / "tools" / "start-registry", "--stop", d],
                   capture_output=True)


def table(results, wl, file=sys.stdout):
    rows = [r for r in results if r.workload == wl]
    if not rows:
        return
    print(f"\n{TITLES[wl]}", file=file)
    head = (f"  {'build on B':<16} {'wall (median)':>14} {'CPU (median)':>14} "
            f"{'peak RSS':>10} {'output':>10} {'cold / this':>12}")
    print(head, file=file)
    print("  " + "-" * (len(head) - 2), file=file)
    cold = next((r for r in rows if r.tool == "B cold"), None)
    for r in rows:
        ratio = "-" if not cold or not r.wall else f"{cold.wall / r.wall:.2f}x"
        rss = "-" if r.rss is None else f"{r.rss / 1024:.1f} MiB"
        note = f"  {r.note}" if r.note else ""
        print(f"  {r.tool:<16} {fmt_time(r.wall):>14} {fmt_time(r.cpu):>14} {rss:>10} "
              f"{fmt_size(r.size):>10} {ratio:>12}{note}", file=file)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="b,c")
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--compose", type=Path)
    a = ap.parse_args()
    keys = [k for k in a.workloads.split(",") if k in TITLES]
    if a.compose:
        compose = a.compose.resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "compose"],
                       cwd=REPO, check=True)
        compose = (Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
                   / "release" / "compose").resolve()
    root = Path(tempfile.mkdtemp(prefix="compose-cache-bench-"))
    inputs = a.inputs.resolve() if a.inputs else root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    reg_dir = root / "registry"
    results = []
    loads = []
    try:
        host = start_registry(reg_dir)
        wls = compare.setup_workloads(keys, root, inputs, None)
        for wl in keys:
            ctx = wls[wl].ctx
            ref = f"{host}/bench/cache-{wl}"
            out = root / f"{wl}-out.tar"
            machine_a = root / f"machine-a-{wl}"
            machine_b = root / f"machine-b-{wl}"
            meta = root / f"{wl}-meta.json"

            def argv(*extra, ctx=ctx, out=out, machine_b=machine_b, meta=meta):
                return [compose, "--cache-dir", machine_b, "-q", "-f", ctx / "scratch.toml",
                        "build", "--format", "docker-archive", "-o", out,
                        "--metadata-file", meta, *extra]
            log(f"({wl}) machine A builds and writes {ref}")
            subprocess.run([compose, "--cache-dir", machine_a, "-q", "-f",
                            ctx / "scratch.toml", "build", "--format", "docker-archive",
                            "-o", root / f"{wl}-a.tar", "--cache-to", ref],
                           check=True, stdout=subprocess.DEVNULL)
            rm(machine_a, root / f"{wl}-a.tar")
            digests = {}
            for tool, extra in (("B cold", []), ("B --cache-from", ["--cache-from", ref])):
                res = Result(tool, wl)

                def cleanup(tool=tool, res=res):
                    # Prove what B did: the layer cache's counters, and the digest.
                    if meta.exists():
                        doc = json.loads(meta.read_text())
                        digests.setdefault(tool, set()).add(doc["digest"])
                        c = doc.get("cache")
                        if c:
                            res.note = (f"layers built {c['layers_built']}, fetched "
                                        f"{c['layers_fetched']} ({fmt_size(c['bytes_fetched'])})")
                    rm(machine_b, out, meta)
                loads.append(os.getloadavg())
                run_tool(res, a.reps, lambda: rm(machine_b, out),
                         [Step(argv(*extra))], cleanup, output=out)
                results.append(res)
            if len(set().union(*digests.values())) != 1:
                raise SystemExit(f"({wl}) B's builds gave different digests: {digests}")
            table(results, wl, sys.stderr)
    finally:
        stop_registry(reg_dir)
        shutil.rmtree(root, ignore_errors=True)
    load = max(loads, default=(0, 0, 0))
    print(f"\nmachine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) up to "
          f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} during the run; {a.reps} timed runs "
          "per row; medians; B starts from an empty cache directory every run; loopback "
          "registry (distribution 2.8, plain HTTP); the same digest in every run")
    for wl in keys:
        table(results, wl)
    print("\ntargets (issue 21)")
    for wl in keys:
        cold = next((r for r in results if r.workload == wl and r.tool == "B cold"), None)
        warm = next((r for r in results if r.workload == wl and r.tool != "B cold"), None)
        if cold and warm and warm.wall:
            got = cold.wall / warm.wall
            need = TARGETS[wl]
            print(f"  {'PASS' if got >= need else 'MISS'}  ({wl}) with A's cache >= {need}x "
                  f"faster than B cold: {got:.1f}x (need >= {need}x)")


if __name__ == "__main__":
    main()
