#!/usr/bin/env python3
"""Generate a deterministic, realistic rootfs tar for benchmarks.

    gen-rootfs.py --size-mb 200 --files 7000 --seed 1 OUT.tar

The same arguments give the same bytes on every machine: content comes from a seeded PRNG
(no wall clock, no host metadata). Files mix what a distribution rootfs holds: compressible
text (configs, scripts, docs), semi-compressible "binaries" (repeated instruction-like
patterns), and incompressible blobs (already-compressed data), in a directory tree a few
levels deep, with symlinks and a few hard links.
"""
import argparse
import io
import random
import tarfile

WORDS = (b"the of and to in is for on that with as by this be are from or at an it not "
         b"config value path user group lib bin usr etc share doc include local var run "
         b"static const void int char return if else while for struct enum case break").split()


def text(rng, n):
    out = bytearray()
    while len(out) < n:
        line = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        out += line + b"\n"
    return bytes(out[:n])


def binary(rng, n):
    # Instruction-like: a small alphabet of 4-16 byte "opcodes" with random operands.
    ops = [bytes(rng.getrandbits(8) for _ in range(rng.randint(4, 16))) for _ in range(64)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(ops)
        out += rng.getrandbits(16).to_bytes(2, "little")
    return bytes(out[:n])


def noise(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, required=True)
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    total = a.size_mb * 1024 * 1024
    # Sizes: log-uniform-ish, scaled to the total.
    raw = [rng.paretovariate(1.2) for _ in range(a.files)]
    scale = total / sum(raw)
    sizes = [max(0, int(r * scale)) for r in raw]
    top = ["usr/bin", "usr/lib", "usr/share/doc", "usr/share/locale", "etc", "var/lib", "opt/app", "lib"]
    dirs = set()
    entries = []
    for i, size in enumerate(sizes):
        d = f"{rng.choice(top)}/d{rng.randrange(max(1, a.files // 60)):04d}"
        dirs.add(d)
        kind = rng.random()
        entries.append((f"{d}/f{i:06d}", size, kind))
    with tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(path):
            ti = tarfile.TarInfo(path)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = 1_600_000_000
            tf.addfile(ti)
        made = set()
        for d in sorted(dirs):
            parts = d.split("/")
            for k in range(1, len(parts) + 1):
                p = "/".join(parts[:k])
                if p not in made:
                    made.add(p)
                    add_dir(p)
        for path, size, kind in entries:
            if kind < 0.45:
                data = text(rng, size)
            elif kind < 0.9:
                data = binary(rng, size)
            else:
                data = noise(rng, size)
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o755 if "bin" in path else 0o644
            ti.mtime = 1_600_000_000
            tf.addfile(ti, io.BytesIO(data))
        for i in range(min(200, len(entries))):
            ti = tarfile.TarInfo(f"usr/bin/link{i:03d}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "/" + entries[i][0]
            ti.mtime = 1_600_000_000
            tf.addfile(ti)
        for i in range(min(20, len(entries))):
            ti = tarfile.TarInfo(f"usr/lib/hard{i:03d}")
            ti.type = tarfile.LNKTYPE
            ti.linkname = entries[-1 - i][0]
            ti.mtime = 1_600_000_000
            tf.addfile(ti)


if __name__ == "__main__":
    main()
