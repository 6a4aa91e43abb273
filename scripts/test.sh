#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds the ferrokube binary the
# end-to-end tests start, then runs every crate's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferrokube-target}"
# One build with the same targets and features `cargo test` uses, so nothing builds twice;
# it includes the ferrokube binary the end-to-end tests start.
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
