#!/usr/bin/env bash
# Regenerates cli/kubelet.order: the functions a cri kubelet runs while it starts 30 pods on
# containerd, in their current address order. The release link lays them out together (see
# cli/build.rs), so a node agent keeps ~5 MiB of code resident instead of ~19 MiB.
#
# Runs the pod-startup benchmark with the kubelet under callgrind (valgrind), which records
# every function that ran, not a sample. Names already in the list that the binary still has
# are kept, so runs add up (a run misses what the kubelet did after callgrind's last write). Needs a release build, valgrind, and what the
# benchmark needs (scripts/prepare-node.sh). Takes about three minutes.
#
# Usage: scripts/kubelet-order.sh [target-dir]   (default: $CARGO_TARGET_DIR or target)
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-${CARGO_TARGET_DIR:-$root/target}}"
binary="$target/release/ferrokube"
bench="$target/release/ferrokube-bench"
for f in "$binary" "$bench"; do
    [ -x "$f" ] || { echo "no $f: cargo build --release -p ferrokube -p ferrokube-bench" >&2; exit 1; }
done
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Every other component runs as it is; the kubelet runs under callgrind, which writes what ran
# every 2M basic blocks, so the benchmark may kill it when it is done.
cat > "$work/ferrokube" <<WRAP
#!/usr/bin/env bash
if [ "\$1" = kubelet ]; then
    exec valgrind --tool=callgrind --demangle=no --dump-instr=no --dump-line=no \
        --compress-strings=no --compress-pos=no --dump-every-bb=2000000 \
        --callgrind-out-file="$work/callgrind.%p" "$binary" "\$@"
fi
exec "$binary" "\$@"
WRAP
chmod +x "$work/ferrokube"

"$bench" --ferrokube "$work/ferrokube" pod-startup --timeout-secs 600 --out "$work" >"$work/bench.log" 2>&1 ||
    { tail -20 "$work/bench.log" >&2; exit 1; }

# The names of the functions that ran, then the binary's text symbols among them by address.
{ cat "$work"/callgrind.* | sed -n 's/^fn=//p'; cat "$root/cli/kubelet.order" 2>/dev/null; } |
    sort -u >"$work/ran"
nm --defined-only "$binary" | awk '$2 ~ /^[tTW]$/ { print $1, $3 }' | sort -k2,2 >"$work/symbols"
join -1 2 -2 1 -o 1.1,1.2 "$work/symbols" "$work/ran" | sort -u -k2,2 | sort -k1,1 |
    awk '{ print $2 }' >"$root/cli/kubelet.order"
echo "cli/kubelet.order: $(wc -l <"$root/cli/kubelet.order") functions" >&2
