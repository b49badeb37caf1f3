#!/usr/bin/env python3
"""Regenerate the committed seed corpus under fuzz/corpus/ (deterministic; run from the
repository root). Small, varied inputs: each seed exercises one format feature or one
hostile case, so the fuzzer starts from the interesting corners."""
import bz2, gzip, io, lzma, os, shutil, subprocess, tarfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            info.mtime = 0
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def m(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, **kw):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.mode = mode
    i.linkname = link
    if kind == tarfile.REGTYPE:
        i.size = len(data)
    for k, v in kw.items():
        setattr(i, k, v)
    return (i, data if kind == tarfile.REGTYPE else None)


def seeds_tar():
    basic = [
        m("./", tarfile.DIRTYPE, mode=0o755),
        m("etc", tarfile.DIRTYPE, mode=0o755),
        m("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        m("bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777),
        m("bin/busybox", data=b"\x7fELF", mode=0o755),
        m("bin/ls", tarfile.LNKTYPE, link="bin/busybox"),
        m("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        m("run/fifo", tarfile.FIFOTYPE),
    ]
    out = {
        "ustar": tar(basic, tarfile.USTAR_FORMAT),
        "gnu": tar(basic + [m("d/" + "x" * 150, data=b"long")], tarfile.GNU_FORMAT),
        "pax": tar(basic + [m("p/" + "y" * 200, data=b"pax", pax_headers={"SCHILY.xattr.user.k": "v"})]),
        "escape": tar([m("../evil", data=b"x")], tarfile.USTAR_FORMAT),
        "absolute": tar([m("/etc/evil", data=b"x")], tarfile.USTAR_FORMAT),
        "symlink-root": tar([m("l", tarfile.SYMTYPE, link="/"), m("l/etc/x", data=b"x")]),
        "symlink-up": tar([m("l", tarfile.SYMTYPE, link="../.."), m("l/x", data=b"x")]),
        "hardlink-out": tar([m("h", tarfile.LNKTYPE, link="../../etc/passwd")]),
        "hardlink-missing": tar([m("h", tarfile.LNKTYPE, link="nope")]),
        "whiteouts": tar([m("a/.wh.b"), m("a/.wh..wh..opq"), m(".wh..wh.plnk/1"), m("c/.wh..")]),
        "root-symlink": tar([m("./", tarfile.SYMTYPE, link="/tmp")]),
        "sparse": tar([m("s", tarfile.GNUTYPE_SPARSE, data=b"")], tarfile.GNU_FORMAT),
        "nonutf8": tar([m("caf\udce9", data=b"x")], tarfile.GNU_FORMAT),
        "bigdev": tar([m("d", tarfile.CHRTYPE, devmajor=1 << 40, devminor=1 << 35)], tarfile.GNU_FORMAT),
        "bigdev-pax": tar([m("d", tarfile.BLKTYPE, pax_headers={"SCHILY.devmajor": str(1 << 40), "SCHILY.devminor": str(1 << 33)})]),
        "empty": b"\0" * 1024,
    }
    # PAX size larger than the ustar header size, then a GNU long name after a PAX header.
    pax = tar([m("f", data=b"abc", pax_headers={"size": "9999"})])
    out["pax-size-mismatch"] = pax
    gnu = tar([m("g" * 120, data=b"x")], tarfile.GNU_FORMAT)
    out["pax-then-gnu"] = tar([m("z", data=b"", pax_headers={"path": "from-pax"})])[:1024] + gnu
    out["truncated"] = out["ustar"][:1500]
    out.update(seeds_sparse())
    return out


def seal(block):
    """Recompute a header block's checksum."""
    block[148:156] = b" " * 8
    block[148:155] = b"%06o\0" % sum(block)


def seeds_sparse():
    """GNU sparse files in each form: "head", a hole, "tail" (20000 bytes)."""
    size = 20000
    v10_map = b"2\n0\n4\n19996\n4\n".ljust(512, b"\0")
    pairs = {"GNU.sparse.size": str(size), "GNU.sparse.numblocks": "1",
             "GNU.sparse.offset": "0", "GNU.sparse.numbytes": "4"}
    out = {
        "sparse-pax-1.0": tar([m("GNUSparseFile.0/f", data=v10_map + b"headtail", pax_headers={
            "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "f",
            "GNU.sparse.realsize": str(size)})]),
        "sparse-pax-0.1": tar([m("GNUSparseFile.0/f", data=b"headtail", pax_headers={
            "GNU.sparse.size": str(size), "GNU.sparse.numblocks": "2", "GNU.sparse.name": "f",
            "GNU.sparse.map": "0,4,19996,4"})]),
        "sparse-pax-0.0": tar([m("f", data=b"head", pax_headers=pairs)]),
        "sparse-huge": tar([m("f", data=b"x", pax_headers={
            "GNU.sparse.size": str(1 << 60), "GNU.sparse.map": "0,1"})]),
    }
    # Old GNU `S`: two pairs in the header and one in an extension block.
    old = bytearray(tar([m("f", data=b"headmidtail")], tarfile.GNU_FORMAT))
    header, data = old[:512], old[512:1024]
    header[156:157] = b"S"
    for i, (off, n) in enumerate([(0, 4), (9000, 3)]):
        header[386 + i * 24:386 + i * 24 + 24] = b"%011o\0%011o\0" % (off, n)
    header[482] = 1
    header[483:495] = b"%011o\0" % size
    seal(header)
    ext = bytearray(512)
    ext[0:24] = b"%011o\0%011o\0" % (19996, 4)
    out["sparse-gnu-S"] = bytes(header + ext + data) + b"\0" * 1024
    return out


def elf(machine=62, interp=b"/lib/ld-musl-x86_64.so.1", needed=(b"libz.so.1",), runpath=None,
        cls=2, data=1):
    """A minimal ELF: header, program headers (PT_LOAD over the file, PT_INTERP, PT_DYNAMIC),
    the interpreter, a string table and the dynamic section (DT_NEEDED, DT_RUNPATH,
    DT_STRTAB, DT_STRSZ, DT_NULL), as the preflight reader needs them."""
    import struct
    e = "<" if data == 1 else ">"
    w = "Q" if cls == 2 else "I"
    ehsize, phentsize, dynsize = (64, 56, 16) if cls == 2 else (52, 32, 8)
    strtab = b"\0"
    dyns = []
    for n in needed:
        dyns.append((1, len(strtab)))
        strtab += n + b"\0"
    if runpath is not None:
        dyns.append((29, len(strtab)))
        strtab += runpath + b"\0"
    phnum = 1 + (interp is not None) + bool(dyns)
    interp_off = ehsize + phentsize * phnum
    ib = (interp + b"\0") if interp is not None else b""
    str_off = interp_off + len(ib)
    dyn_off = (str_off + len(strtab) + 7) & ~7
    dyns += [(5, str_off), (10, len(strtab)), (0, 0)]
    total = dyn_off + dynsize * len(dyns)
    ident = b"\x7fELF" + bytes([cls, data, 1]) + b"\0" * 9
    hdr = ident + struct.pack(e + "HHI" + w + w + w + "IHHHHHH", 3, machine, 1, 0, ehsize, 0, 0,
                              ehsize, phentsize, phnum, 0, 0, 0)

    def ph(t, off, size):
        if cls == 2:
            return struct.pack(e + "IIQQQQQQ", t, 4, off, off, off, size, size, 8)
        return struct.pack(e + "IIIIIIII", t, off, off, off, size, size, 4, 8)

    out = hdr + ph(1, 0, total)
    if interp is not None:
        out += ph(3, interp_off, len(ib))
    if dyns:
        out += ph(2, dyn_off, dynsize * len(dyns))
    out += ib + strtab
    out += b"\0" * (dyn_off - len(out))
    for tag, val in dyns:
        out += struct.pack(e + ("qQ" if cls == 2 else "iI"), tag, val)
    return out


def seeds_elf():
    glibc = elf(interp=b"/lib64/ld-linux-x86-64.so.2", needed=(b"libc.so.6",))
    return {
        "musl-dynamic": elf(runpath=b"$ORIGIN/../lib"),
        "glibc-dynamic": glibc,
        "static-arm64": elf(machine=183, interp=None, needed=()),
        "arm32": elf(machine=40, cls=1, interp=b"/lib/ld-linux-armhf.so.3", needed=(b"libc.so.6",)),
        "s390x-big-endian": elf(machine=22, data=2, interp=None, needed=(b"libc.so.6",)),
        "truncated": glibc[:100],
        "phnum-max": glibc[:56] + b"\xff\xff" + glibc[58:],
        "strtab-past-end": glibc[:-32] + bytes(8) + (999).to_bytes(8, "little") + glibc[-16:],
        "script": b"#!/bin/sh\necho hi\n",
    }


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    for name, data in seeds_elf().items():
        put("elf", name, data)
    tars = seeds_tar()
    for name, data in tars.items():
        put("tar_read", name, data)
    small = tars["ustar"]
    put("decompress", "gzip", gzip.compress(small, mtime=0))
    put("decompress", "gzip-truncated", gzip.compress(small, mtime=0)[:200])
    put("decompress", "gzip-multi", gzip.compress(b"a", mtime=0) + gzip.compress(b"b", mtime=0))
    put("decompress", "xz", lzma.compress(small))
    put("decompress", "xz-corrupt", lzma.compress(small)[:60] + b"\xff" * 40)
    put("decompress", "bzip2", bz2.compress(small))
    zst = subprocess.run(["zstd", "-q", "-c"], input=small, stdout=subprocess.PIPE, check=True).stdout
    put("decompress", "zstd", zst)
    put("decompress", "zstd-truncated", zst[: len(zst) // 2])
    put("decompress", "bomb", gzip.compress(b"\0" * (1 << 20), mtime=0))
    put("decompress", "tar", small[:1024])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for ex in sorted(os.listdir(os.path.join(here, "examples"))):
        p = os.path.join(here, "examples", ex, "scratch.toml")
        if os.path.exists(p):
            put("manifest", "example-" + ex, open(p, "rb").read())
    put("manifest", "minimal", b'[image]\nname = "x"\n')
    put("manifest", "layers", b'[image]\nname = "x"\nsource_date_epoch = 1\n[[layer]]\nremove = ["/a"]\n'
        b'[[layer.file]]\ndest = "/etc/x"\ncontent = "hi"\nmode = 0o600\n'
        b'[[layer.symlink]]\ndest = "/l"\ntarget = "../.."\n'
        b'[[layer]]\ntar = "https://example.org/x.tar.gz"\nsha256 = "' + b"0" * 64 + b'"\n')
    put("manifest", "hostile", b'[image]\nname = "x"\n[[layer]]\n[[layer.file]]\ndest = "/../etc"\ncontent = "x"\n')
    # merge: op byte, mode byte, operands (see layers_from in fuzz/shared.rs).
    put("merge", "file-dir-link", bytes([0, 1, 1, 0, 0, 1, 2, 1, 1, 2, 0, 3, 3, 4, 0, 0, 0, 0]))
    put("merge", "symlink-escape", bytes([2, 0, 0, 0, 3, 0, 0, 1, 0, 0, 2, 3, 0, 0, 0xff, 0, 0, 0, 1, 3, 0]))
    put("merge", "whiteouts", bytes([1, 0, 1, 0, 0, 1, 0, 0xff, 0, 0, 0, 1, 0, 5, 0, 0, 1, 0, 8]))
    # The high bit of the first byte: usrmerge. l -> a, a/; then l/ and l/b above.
    put("merge", "usrmerge", bytes([0x82, 0, 4, 0, 3, 1, 0, 0, 0, 0xff, 1, 0, 0, 3, 0, 0, 1, 1, 3, 1]))
    put("merge", "hardlinks", bytes([0, 0, 1, 0, 0, 3, 0, 0, 1, 0, 0, 0xff, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0]))
    # pkgdb: the first byte picks the parser (see pkgdb in fuzz/shared.rs).
    apk = (b"C:Q16vHLRZoP2NZ2lLj3reL8p+l/YE4=\nP:musl\nV:1.2.4-r4\nA:x86_64\nL:MIT\no:musl\n"
           b"m:A <a@b>\nF:lib\nR:ld-musl.so.1\na:0:0:755\nZ:Q1x=\n\nP:b\nV:1\nL:GPL-2.0-only WITH x\n")
    status = (b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
              b"Source: glibc (2.36-9)\nVersion: 2.36-9\nDescription: C library\n more\n\n"
              b"Package: gone\nStatus: purge ok not-installed\n")
    dep5 = (b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            b"Files: *\nLicense: GPL-2+ or Artistic\n\nFiles: debian/*\nLicense: BSD-3-clause\n")
    put("pkgdb", "apk", b"\x00" + apk)
    put("pkgdb", "dpkg", b"\x01" + status)
    put("pkgdb", "dep5", b"\x02" + dep5)
    put("pkgdb", "license-spdx", b"\x03(MIT OR Apache-2.0) AND GPL-2.0+ WITH Classpath-exception-2.0")
    put("pkgdb", "license-dep5", b"\x04LGPL-2.1+ and public-domain")
    put("pkgdb", "license-nested", b"\x03" + b"(" * 40 + b"MIT" + b")" * 40)
    put("pkgdb", "rootfs", b"\x05" + apk + b"\x00" + status + b"\x00" + dep5 + b"\x00ID=alpine\nVERSION_ID=3.19\n")


if __name__ == "__main__":
    main()
