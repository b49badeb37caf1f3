#!/usr/bin/env bash
# Build a statically linked `hello` and an image holding only it, with no network at all.
#   examples/static-binary/build.sh [compose build options…]
# prints the image digest; the OCI layout goes to examples/static-binary/out unless -o is given.
exec bash "$(dirname "$0")/../rust-example.sh" "$(dirname "$0")" hello "$@"
