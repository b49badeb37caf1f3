#!/usr/bin/env bash
# Build the statically linked `trust` and the distroless image around it, with no network.
#   examples/distroless/build.sh [compose build options…]
# prints the image digest; the OCI layout goes to examples/distroless/out unless -o is given.
exec bash "$(dirname "$0")/../rust-example.sh" "$(dirname "$0")" trust "$@"
