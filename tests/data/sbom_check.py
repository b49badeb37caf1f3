#!/usr/bin/env python3
"""Validate compose's supply-chain documents with the ecosystem's own tools.

    sbom_check.py spdx FILE          spdx-tools: parse + full validation; prints "name version" per found package
    sbom_check.py cyclonedx FILE     cyclonedx-python-lib's strict JSON validator (1.6); prints packages likewise
    sbom_check.py dsse FILE PUB.pem  in-toto's DSSE envelope verification with the public key; prints the statement
    sbom_check.py apkdb TARBALL      the packages of a tarball's own lib/apk/db/installed ("name version")
    sbom_check.py probe              exits 0 when every library above imports

Exit 0 when valid, 1 with the validator's messages on stderr when not."""
import json, sys, tarfile


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    doc = parse_file(path)
    msgs = validate_full_spdx_document(doc)
    if msgs:
        for m in msgs:
            print(m.validation_message, file=sys.stderr)
        sys.exit(1)
    for p in doc.packages:
        if p.external_references and any(r.locator.startswith(("pkg:apk/", "pkg:deb/")) for r in p.external_references):
            print(p.name, p.version)


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    text = open(path).read()
    err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if err is not None:
        print(err, file=sys.stderr)
        sys.exit(1)
    def walk(cs):
        for c in cs:
            if c.get("purl", "").startswith(("pkg:apk/", "pkg:deb/")):
                print(c["name"], c["version"])
            walk(c.get("components", []))
    walk(json.loads(text).get("components", []))


def dsse(path, pub):
    from cryptography.hazmat.primitives import serialization
    from in_toto.models.metadata import Envelope, Metadata
    key = serialization.load_pem_public_key(open(pub, "rb").read())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    keyid = hashlib.sha256(der).hexdigest()
    env = Metadata.load(path)
    if not isinstance(env, Envelope):
        print("not a DSSE envelope", file=sys.stderr)
        sys.exit(1)
    try:
        env.verify_signature({"keyid": keyid, "keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}})
    except Exception as e:  # the library's own verdict
        print(f"signature: {e!r}", file=sys.stderr)
        sys.exit(1)
    if env.payload_type != "application/vnd.in-toto+json":
        print("payloadType " + env.payload_type, file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(env.payload.decode())


def apkdb(tarball):
    with tarfile.open(tarball) as t:
        data = t.extractfile("./lib/apk/db/installed").read().decode()
    for stanza in data.split("\n\n"):
        f = dict(l.split(":", 1) for l in stanza.splitlines() if ":" in l)
        if "P" in f:
            print(f["P"], f["V"])


def probe():
    import spdx_tools.spdx.parser.parse_anything  # noqa: F401
    import cyclonedx.validation.json  # noqa: F401
    import in_toto.models.metadata  # noqa: F401
    import securesystemslib.dsse  # noqa: F401
    import jsonschema  # noqa: F401


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"spdx": spdx, "cyclonedx": cyclonedx, "dsse": dsse, "apkdb": apkdb, "probe": probe}[cmd](*args)
