#!/usr/bin/env bash
# Run every fuzz target for a bounded time, starting from the committed seed corpus.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Builds with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 allows the nightly
# flags it needs), without a sanitizer (the code under test is safe Rust; the C decoders
# are not instrumented either way) but with debug assertions and overflow checks. New
# corpus entries go to a temporary directory, so the checkout is left unchanged. A crash
# is saved by libFuzzer under fuzz/artifacts/<target>/: commit it, and
# tests/hostile_fuzz_corpus.rs replays it as a regression test. Exits 1 when any target
# crashed, 2 when the tooling is missing or the build fails.
set -u
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(manifest tar_read decompress merge pkgdb elf)
fi
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions --fuzz-dir fuzz)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 2
fi

start=$(date +%s)
cargo fuzz build "${flags[@]}" || exit 2
echo "fuzz/run.sh: built in $(( $(date +%s) - start )) s" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    echo "fuzz/run.sh: $t for ${secs} s" >&2
    if ! cargo fuzz run "${flags[@]}" "$t" "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$t")
    fi
done
echo "fuzz/run.sh: done in $(( $(date +%s) - start )) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: crashes in: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
