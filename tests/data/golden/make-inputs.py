#!/usr/bin/env python3
"""Write the two input layers of the golden fixture set (run once; the outputs are
committed and pinned by sha256 in scratch.toml, so this script documents them)."""
import io
import tarfile

def add(tf, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = 1_000_000_000
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = pax
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)

with tarfile.open("lower.tar", "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "./", tarfile.DIRTYPE, mode=0o755)
    add(tf, "bin/", tarfile.DIRTYPE, mode=0o755)
    add(tf, "bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o4755)
    add(tf, "bin/alias", tarfile.SYMTYPE, link="tool", mode=0o777)
    add(tf, "bin/hard", tarfile.LNKTYPE, link="bin/tool")
    add(tf, "etc/empty", data=b"")
    add(tf, "etc/owned", data=b"big uid\n", uid=3_000_000, gid=3_000_000)
    add(tf, "etc/caps", data=b"capable\n", pax={"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                                               "SCHILY.xattr.user.note": "hello"})
    add(tf, "etc/caf\u00e9-\u65e5\u672c", data=b"non-ascii\n")
    deep = "deep/" + "/".join(["d" * 60] * 5) + "/file-with-a-long-name.txt"
    add(tf, deep, data=b"long path\n")
    add(tf, "dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    add(tf, "dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0))
    add(tf, "run/fifo", tarfile.FIFOTYPE, mode=0o600)
    add(tf, "opt/app/", tarfile.DIRTYPE, mode=0o755)
    add(tf, "opt/app/old-a", data=b"a\n")
    add(tf, "opt/app/old-b", data=b"b\n")
    add(tf, "tmp/", tarfile.DIRTYPE, mode=0o1777)
    add(tf, "var/gone", data=b"to be whited out\n")

with tarfile.open("upper.tar", "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "var/.wh.gone", data=b"")
    add(tf, "opt/app/.wh..wh..opq", data=b"")
    add(tf, "opt/app/new", data=b"new\n")
    add(tf, "bin/tool", data=b"#!/bin/sh\necho replaced\n", mode=0o755)
    add(tf, "etc/empty/", tarfile.DIRTYPE, mode=0o700)
