#!/usr/bin/env bash
# Installs what building and testing Ferrokube needs, idempotently: protoc (etcd-client's
# build), etcd (the etcd backend's tests), and the Python kubernetes client.
set -euo pipefail

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
# openssl: the agent-join test computes the CA pin as kubeadm's docs do.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v kubectl >/dev/null 2>&1 || echo "warning: kubectl is not installed; the kubectl tests will fail" >&2
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# etcd-server's package starts a system etcd on :2379; tests run their own, so stop it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd >/dev/null 2>&1 || true; fi
pkill -x etcd -u etcd >/dev/null 2>&1 || true

# containerd, runc, the CNI plugins and the local images the cri tests run pods with.
"$(dirname "$0")/prepare-node.sh" all

if ! python3 -c 'import kubernetes' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check kubernetes
fi
