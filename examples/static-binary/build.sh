#!/usr/bin/env bash
# Build a statically linked `hello` and an image holding only it, with no network at all.
#   examples/static-binary/build.sh [compose build options…]
# prints the image digest; the OCI layout goes to examples/static-binary/out unless -o is given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$here/target"
rustc --edition 2021 -C opt-level=2 -C target-feature=+crt-static -C strip=symbols \
  -C codegen-units=1 --remap-path-prefix "$here=/src" \
  -o "$here/target/hello" "$here/hello.rs"
# COMPOSE names a compose binary to use instead of building one (the tests do).
if [ -z "${COMPOSE:-}" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  COMPOSE="$root/target/release/compose"
fi
cd "$here"
if [[ " $* " == *" -o "* || " $* " == *" --output"* ]]; then
  exec "$COMPOSE" build "$@"
fi
exec "$COMPOSE" build -o "$here/out" "$@"
