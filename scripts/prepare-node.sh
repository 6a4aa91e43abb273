#!/usr/bin/env bash
# Prepares a machine to run Ferrokube pods on containerd, idempotently. Steps (run all when
# none is named):
#
#   packages          containerd, runc, the CNI plugins, busybox-static and iptables (Debian)
#   images            builds the local images as OCI tarballs in $FERROKUBE_IMAGE_DIR
#                     (default /var/lib/ferrokube/images), since no registry is reachable:
#                       docker.io/library/busybox:latest  busybox-static with its applet links
#                       ferrokube.local/pause:3.10        the sandbox ("pause") image: the same
#                                                         static busybox running `sleep infinity`
#   config DIR [SUBNET] [BRIDGE]
#                     writes DIR/config.toml (a containerd configuration rooted in DIR, socket
#                     DIR/containerd.sock) and DIR/net.d/10-ferrokube.conflist (bridge +
#                     host-local + loopback on SUBNET, default 10.88.0.0/16, bridge BRIDGE,
#                     default cni0). The test harness runs a private containerd with it.
#   node              configures the system containerd the same way (/etc/containerd,
#                     /etc/cni/net.d), restarts it and imports the images; its network also
#                     masquerades pod traffic leaving the host and maps hostPorts (portmap).
#
# FERROKUBE_CNI=full|lean overrides the network of either step. `lean` (the private
# containerd's default) is what pods need to answer from the host and each other: no iptables.
# `full` adds the bridge plugin's ipMasq and the portmap plugin, which run iptables (each call
# taking the xtables lock) for every sandbox set up and torn down: with 30 sandboxes at once
# that serialises most of their network set-up.
#
# Why busybox is the pause image: the sandbox container only has to hold the pod's namespaces
# open and do nothing; containerd stops it with SIGKILL, so `sleep infinity` from the static
# busybox (already needed for the busybox image) is all it takes, with no extra binary to build.
set -euo pipefail

IMAGE_DIR="${FERROKUBE_IMAGE_DIR:-/var/lib/ferrokube/images}"
PAUSE_IMAGE="ferrokube.local/pause:3.10"
BUSYBOX_IMAGE="docker.io/library/busybox:latest"

packages() {
  local need=()
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  [[ -x /bin/busybox ]] || need+=(busybox-static)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # The Debian package starts a system containerd; tests run their own and do not need it.
}

images() {
  mkdir -p "$IMAGE_DIR"
  local stamp
  stamp="$(sha256sum /bin/busybox | cut -c1-16)-v1"
  if [[ -f "$IMAGE_DIR/stamp" && "$(cat "$IMAGE_DIR/stamp")" == "$stamp" \
        && -f "$IMAGE_DIR/busybox.tar" && -f "$IMAGE_DIR/pause.tar" ]]; then
    return
  fi
  python3 - "$IMAGE_DIR" "$BUSYBOX_IMAGE" "$PAUSE_IMAGE" <<'EOF'
import hashlib, io, json, os, subprocess, sys, tarfile, gzip

out, busybox_name, pause_name = sys.argv[1:4]

def info(name, **kw):
    t = tarfile.TarInfo(name)
    t.mtime = 0
    t.uid = t.gid = 0
    t.uname = t.gname = "root"
    for k, v in kw.items():
        setattr(t, k, v)
    return t

# The root filesystem layer: /bin/busybox, a link for each applet, a few files tools expect.
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
    dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "var/www", "home"]
    for d in dirs:
        tar.addfile(info(d + "/", type=tarfile.DIRTYPE, mode=0o755))
    tar.addfile(info("tmp/", type=tarfile.DIRTYPE, mode=0o1777))
    data = open("/bin/busybox", "rb").read()
    tar.addfile(info("bin/busybox", size=len(data), mode=0o755), io.BytesIO(data))
    applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for path in sorted(set(applets)):
        if path == "bin/busybox" or path.split("/")[0] not in ("bin", "sbin", "usr"):
            continue
        tar.addfile(info(path, type=tarfile.SYMTYPE, linkname="/bin/busybox", mode=0o777))
    for name, text in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/hosts", "127.0.0.1 localhost\n"),
    ]:
        b = text.encode()
        tar.addfile(info(name, size=len(b), mode=0o644), io.BytesIO(b))
diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
compressed = gzip.compress(layer.getvalue(), mtime=0)
layer_digest = "sha256:" + hashlib.sha256(compressed).hexdigest()

def image(name, entrypoint, cmd, path):
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Entrypoint": entrypoint,
                   "Cmd": cmd, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "ferrokube prepare-node.sh: busybox-static"}],
    }
    config_b = json.dumps(config, sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config_b).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config_b)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": len(compressed)}],
    }
    manifest_b = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest_b).hexdigest()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": len(manifest_b),
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}]}
    tmp = path + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        for name_, blob in [
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index).encode()),
            ("blobs/sha256/" + layer_digest[7:], compressed),
            ("blobs/sha256/" + config_digest[7:], config_b),
            ("blobs/sha256/" + manifest_digest[7:], manifest_b),
        ]:
            tar.addfile(info(name_, size=len(blob), mode=0o644), io.BytesIO(blob))
    os.replace(tmp, path)

image(busybox_name, None, ["sh"], os.path.join(out, "busybox.tar"))
image(pause_name, ["/bin/busybox", "sleep", "infinity"], None, os.path.join(out, "pause.tar"))
EOF
  echo "$stamp" >"$IMAGE_DIR/stamp"
}

# config DIR SUBNET BRIDGE [ROOT STATE SOCKET CNI_CONF_DIR CNI]
write_config() {
  local dir="$1" subnet="${2:-10.88.0.0/16}" bridge="${3:-cni0}"
  local root="${4:-$dir/root}" state="${5:-$dir/state}" socket="${6:-$dir/containerd.sock}"
  local net_d="${7:-$dir/net.d}" cni="${FERROKUBE_CNI:-${8:-lean}}"
  local masq=false portmap=""
  if [[ "$cni" == full ]]; then
    masq=true
    portmap='{ "type": "portmap", "capabilities": { "portMappings": true } },
    '
  fi
  mkdir -p "$dir" "$net_d"
  cat >"$dir/config.toml.tmp" <<EOF
version = 2
root = "$root"
state = "$state"

[grpc]
  address = "$socket"

[ttrpc]
  address = "$socket.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$root/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$net_d"
    max_conf_num = 1
EOF
  mv "$dir/config.toml.tmp" "$dir/config.toml"
  cat >"$net_d/10-ferrokube.conflist.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ferrokube-$bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": $masq,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni-ipam",
        "ranges": [[{ "subnet": "$subnet" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    ${portmap}{ "type": "loopback" }
  ]
}
EOF
  mv "$net_d/10-ferrokube.conflist.tmp" "$net_d/10-ferrokube.conflist"
}

node() {
  write_config /etc/containerd 10.88.0.0/16 cni0 /var/lib/containerd /run/containerd \
    /run/containerd/containerd.sock /etc/cni/net.d full
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl restart containerd
  fi
  for _ in $(seq 100); do [[ -S /run/containerd/containerd.sock ]] && break; sleep 0.1; done
  ctr -a /run/containerd/containerd.sock -n k8s.io images import "$IMAGE_DIR/busybox.tar" >/dev/null
  ctr -a /run/containerd/containerd.sock -n k8s.io images import "$IMAGE_DIR/pause.tar" >/dev/null
}

# One preparation at a time (test processes may start together).
mkdir -p "$IMAGE_DIR"
exec 9>"$IMAGE_DIR/.lock"
flock 9

case "${1:-all}" in
  packages) packages ;;
  images) images ;;
  config) shift; write_config "$@" ;;
  node) packages; images; node ;;
  all) packages; images ;;
  *) echo "usage: $0 [packages|images|config DIR [SUBNET] [BRIDGE]|node|all]" >&2; exit 2 ;;
esac
