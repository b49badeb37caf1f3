#!/usr/bin/env bash
# What each Rust example's build.sh does: compile its statically linked program and build
# the image around it, with no network at all.
#   examples/rust-example.sh DIR PROGRAM [compose build options…]
# compiles DIR/PROGRAM.rs into DIR/target/PROGRAM, prints the image digest; the OCI layout
# goes to DIR/out unless -o is given.
set -euo pipefail
here=$(cd "$1" && pwd)
program=$2
shift 2
root=$(cd "$here/../.." && pwd)
mkdir -p "$here/target"
rustc --edition 2021 -C opt-level=2 -C target-feature=+crt-static -C strip=symbols \
  -C codegen-units=1 --remap-path-prefix "$here=/src" \
  -o "$here/target/$program" "$here/$program.rs"
# COMPOSE names a compose binary to use instead of building one (the tests do).
if [ -z "${COMPOSE:-}" ]; then
  cargo build --release --manifest-path "$root/Cargo.toml"
  COMPOSE="${CARGO_TARGET_DIR:-$root/target}/release/compose"
fi
cd "$here"
# The shipped scratch.lock pins target/PROGRAM, whose bytes depend on the Rust toolchain:
# with another toolchain than the one it was made with, lock again, so that the build is
# quiet and `--locked` works.
if ! "$COMPOSE" lock --check >/dev/null 2>&1; then
  echo "scratch.lock: target/$program differs from the shipped lock's (another Rust toolchain?); locking again" >&2
  "$COMPOSE" lock
fi
if [[ " $* " == *" -o "* || " $* " == *" --output"* ]]; then
  exec "$COMPOSE" build "$@"
fi
exec "$COMPOSE" build -o "$here/out" "$@"
