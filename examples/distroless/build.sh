#!/usr/bin/env bash
# Build the statically linked `trust` and the distroless image around it, with no network.
#   examples/distroless/build.sh [compose build options…]
# prints the image digest; the OCI layout goes to examples/distroless/out unless -o is given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$here/target"
rustc --edition 2021 -C opt-level=2 -C target-feature=+crt-static -C strip=symbols \
  -C codegen-units=1 --remap-path-prefix "$here=/src" \
  -o "$here/target/trust" "$here/trust.rs"
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
