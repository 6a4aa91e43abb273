#!/usr/bin/env bash
# Builds ferrokube and starts a single-node control plane on the embedded store, with its
# data (PKI, SQLite database, admin kubeconfig) in ./.ferrokube. Extra flags are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferrokube-target}"
cargo build --release -p ferrokube
data_dir="${FERROKUBE_DATA_DIR:-$PWD/.ferrokube}"
echo "ferrokube: data in $data_dir; once it is up: export KUBECONFIG=$data_dir/admin.kubeconfig && kubectl get nodes" >&2
exec "$CARGO_TARGET_DIR/release/ferrokube" server --data-dir "$data_dir" "$@"
