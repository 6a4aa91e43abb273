#!/usr/bin/env bash
# Builds ferrokube and starts a single-node cluster on the embedded store, with its data (PKI,
# SQLite database, admin kubeconfig) in ./.ferrokube. The node runs its pods on containerd:
# the system one when /run/containerd/containerd.sock serves, otherwise a private containerd
# rooted in <data-dir>/containerd (started here, left running for the next start; stop it with
# `kill $(cat <data-dir>/containerd/containerd.pid)`). Extra flags are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ferrokube-target}"
cargo build --release -p ferrokube
data_dir="${FERROKUBE_DATA_DIR:-$PWD/.ferrokube}"
mkdir -p "$data_dir"

serves() { [[ -S "$1" ]] && ctr --address "$1" version >/dev/null 2>&1; }

socket=/run/containerd/containerd.sock
if ! serves "$socket"; then
  cdir="$data_dir/containerd"
  socket="$cdir/containerd.sock"
  if ! serves "$socket"; then
    FERROKUBE_CNI="${FERROKUBE_CNI:-full}" ./scripts/prepare-node.sh config "$cdir" 10.89.0.0/16 ferrokube0
    nohup containerd --config "$cdir/config.toml" >"$cdir/containerd.log" 2>&1 &
    echo $! >"$cdir/containerd.pid"
    for _ in $(seq 1 300); do serves "$socket" && break; sleep 0.1; done
    serves "$socket" || { echo "containerd did not start; see $cdir/containerd.log" >&2; exit 1; }
  fi
  for image in busybox pause; do
    ctr --address "$socket" --namespace k8s.io images import \
      "${FERROKUBE_IMAGE_DIR:-/var/lib/ferrokube/images}/$image.tar" >/dev/null
  done
fi

echo "ferrokube: data in $data_dir; once it is up: export KUBECONFIG=$data_dir/admin.kubeconfig && kubectl get nodes" >&2
exec "$CARGO_TARGET_DIR/release/ferrokube" server --data-dir "$data_dir" \
  --container-runtime-endpoint "unix://$socket" "$@"
