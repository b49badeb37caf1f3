#!/usr/bin/env python3
"""Compare `compose push` with skopeo and podman pushing the same images to a loopback
registry, side by side, in one run.

    python3 benches/push.py [--reps N] [--workloads a,b] [--inputs DIR] [--compose BIN]

Workloads (as in compare.py): (a) the Alpine minirootfs, one layer; (b) a Debian-sized
rootfs (gen-rootfs.py --size-mb 200 --files 7000 --seed 1). Each is built once, untimed,
as an oci-archive by compose and loaded into podman. A registry (CNCF distribution 2.8,
../shared/tools/start-registry) runs on 127.0.0.1 over plain HTTP.

Rows, per workload:
  cold   the image pushed to an empty registry (a new one for every run, started
         untimed: skopeo and podman remember which registry holds which blob and would
         mount from an earlier run's repository)
  again  the same push repeated with nothing changed (the repository has everything)
Tools:
  compose        compose push --from ARCHIVE REF (the oci-archive pushed unchanged)
  compose build  compose push REF from the manifest (the build with a warm layer cache,
                 then the push): what a CI job runs
  skopeo         skopeo copy oci-archive:ARCHIVE docker://REF
  podman         podman push IMAGE docker://REF (podman compresses its layers again)

Wall and CPU times come from os.wait4, peak RSS from GNU time, as in compare.py. The
targets of issue 17 are checked at the end: cold push no slower than skopeo's, a repeat
push at least 10x faster than skopeo's.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import Result, Step, log, run_tool, spawn, fmt_time  # noqa: E402

REPO = compare.REPO
SHARED = REPO / ".." / "shared"
TITLES = {"a": "(a) Alpine minirootfs, one layer",
          "b": "(b) Debian-sized rootfs: 200 MB, 7,000 files"}


class Registries:
    """Loopback registries under one directory: `fresh()` stops the current one and
    starts an empty one; `host` is the current one's address."""

    def __init__(self, root):
        self.root = root
        self.n = 0
        self.dir = None
        self.host = None

    def stop(self):
        if self.dir:
            subprocess.run(["bash", SHARED / "tools" / "start-registry", "--stop", self.dir],
                           capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def fresh(self):
        self.stop()
        self.n += 1
        self.dir = self.root / f"registry-{self.n}"
        out = subprocess.run(["bash", SHARED / "tools" / "start-registry", self.dir],
                             capture_output=True, text=True, check=True).stdout
        self.host = next(w.split("=", 1)[1] for w in out.split()
                         if w.startswith("SCRATCH_TEST_REGISTRY="))


def bench(tool, mode, wl, reps, argv_for, registries):
    """Time one tool: `argv_for(host)` is its command. Cold runs push to an empty
    registry each time; `again` runs repeat a push the registry already holds."""
    res = Result(tool, f"{wl}-{mode}")
    if mode == "again":
        registries.fresh()
        spawn(argv_for(registries.host))
        run_tool(res, reps, lambda: None, [Step(argv_for(registries.host))], lambda: None)
    else:
        run_tool(res, reps, registries.fresh, lambda: [Step(argv_for(registries.host))],
                 lambda: None)
    return res


def table(results, wl, file=sys.stdout):
    print(f"\n{TITLES[wl]}", file=file)
    head = (f"  {'push':<6} {'tool':<14} {'wall (median)':>14} {'CPU (median)':>14} "
            f"{'peak RSS':>10} {'wall / compose':>15}")
    print(head, file=file)
    print("  " + "-" * (len(head) - 2), file=file)
    for mode in ("cold", "again"):
        rows = [r for r in results if r.workload == f"{wl}-{mode}"]
        base = next((r for r in rows if r.tool == "compose"), None)
        for r in rows:
            ratio = "-" if not base or not base.wall else f"{r.wall / base.wall:.2f}x"
            rss = "-" if r.rss is None else f"{r.rss / 1024:.1f} MiB"
            print(f"  {mode:<6} {r.tool:<14} {fmt_time(r.wall):>14} {fmt_time(r.cpu):>14} "
                  f"{rss:>10} {ratio:>15}", file=file)


def targets(results, keys):
    def get(tool, w):
        return next((r for r in results if r.tool == tool and r.workload == w), None)
    print("\ntargets (issue 17)")
    for wl in keys:
        ours, sk = get("compose", f"{wl}-cold"), get("skopeo", f"{wl}-cold")
        if ours and sk:
            got = sk.wall / ours.wall
            print(f"  {'PASS' if got >= 1 else 'MISS'}  ({wl}) cold push no slower than "
                  f"skopeo copy: {got:.2f}x (need >= 1x)")
        ours, sk = get("compose", f"{wl}-again"), get("skopeo", f"{wl}-again")
        if ours and sk:
            got = sk.wall / ours.wall
            print(f"  {'PASS' if got >= 10 else 'MISS'}  ({wl}) repeat push >= 10x faster "
                  f"than skopeo's: {got:.1f}x (need >= 10x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="a,b")
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--compose", type=Path)
    ap.add_argument("--tools", default="compose,compose-build,skopeo,podman")
    a = ap.parse_args()
    keys = [k for k in a.workloads.split(",") if k]
    tools = set(a.tools.split(","))
    for t in ("skopeo", "podman"):
        if t in tools and not compare.have(t):
            log(f"{t} is not installed: its rows are left out")
            tools.discard(t)
    if a.compose:
        compose = a.compose.resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "compose"],
                       cwd=REPO, check=True)
        compose = (Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
                   / "release" / "compose").resolve()
    root = Path(tempfile.mkdtemp(prefix="compose-push-bench-"))
    inputs = a.inputs.resolve() if a.inputs else root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    registries = Registries(root)
    results = []
    podman_images = []
    try:
        wls = compare.setup_workloads(keys, root, inputs, compare.fixtures_dir())
        for wl in keys:
            ctx = wls[wl].ctx
            cache = root / f"cache-{wl}"
            archive = root / f"{wl}.tar"
            base = [compose, "--cache-dir", cache, "-q", "-f", ctx / "scratch.toml"]
            subprocess.run(base + ["build", "--format", "oci-archive", "-o", archive],
                           check=True, stdout=subprocess.DEVNULL)
            image = f"localhost/compose-push-bench-{wl}:{os.getpid()}"
            if "podman" in tools:
                subprocess.run(["podman", "load", "-q", "-i", archive], check=True,
                               capture_output=True)
                loaded = f"localhost/compose-bench-{wl}:latest"
                subprocess.run(["podman", "tag", loaded, image], check=True)
                podman_images += [image, loaded]

            def ref(host, tool, wl=wl):
                return f"{host}/bench/{tool}-{wl}:1"
            argv = {
                "compose": lambda h: [compose, "-q", "push", "--from", archive,
                                      ref(h, "compose")],
                "compose build": lambda h: base + ["push", ref(h, "compose-build")],
                "skopeo": lambda h: ["skopeo", "copy", "-q", "--dest-tls-verify=false",
                                     f"oci-archive:{archive}", f"docker://{ref(h, 'skopeo')}"],
                "podman": lambda h: ["podman", "push", "-q", "--tls-verify=false", image,
                                     f"docker://{ref(h, 'podman')}"],
            }
            log(f"({wl})")
            for mode in ("cold", "again"):
                for tool, make in argv.items():
                    if tool.replace(" ", "-") not in tools:
                        continue
                    results.append(bench(tool, mode, wl, a.reps, make, registries))
            table(results, wl, sys.stderr)
    finally:
        registries.stop()
        if podman_images:
            subprocess.run(["podman", "rmi", "-f"] + podman_images, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs; {a.reps} timed runs per tool; medians; "
          "loopback registry (distribution 2.8, plain HTTP); wall / compose > 1 means "
          "slower than compose")
    for wl in keys:
        table(results, wl)
    targets(results, keys)


if __name__ == "__main__":
    main()
