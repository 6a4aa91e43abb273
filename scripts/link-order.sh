#!/usr/bin/env bash
# Regenerates cli/link.order: the functions a cri kubelet runs while it starts 30 pods on
# containerd, then those the controller manager runs while it converges Deployments. The
# release link lays each list out together (see cli/build.rs), so these memory-bound
# components keep ~5 MiB of code resident each instead of ~20 MiB spread over the binary.
#
# Runs the pod-startup and (smaller) controller-convergence benchmarks with the component under
# callgrind (valgrind), which records every function that ran, not a sample. Names already in
# the list that the binary still has are kept, so runs add up. Needs a release build,
# valgrind, and what the benchmarks need (scripts/prepare-node.sh). Takes about five minutes.
#
# Build `ferrokube` on its own (`cargo build --release -p ferrokube`): built in one command with
# other packages, dependencies get other features and so other symbol names.
#
# Usage: scripts/link-order.sh [target-dir]   (default: $CARGO_TARGET_DIR or target)
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-${CARGO_TARGET_DIR:-$root/target}}"
binary="$target/release/ferrokube"
bench="$target/release/ferrokube-bench"
order="$root/cli/link.order"
for f in "$binary" "$bench"; do
    [ -x "$f" ] || { echo "no $f: cargo build --release -p ferrokube; cargo build --release -p ferrokube-bench" >&2; exit 1; }
done
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
nm --defined-only "$binary" | awk '$2 ~ /^[tTW]$/ { print $1, $3 }' | sort -k2,2 >"$work/symbols"
touch "$order"

# record COMPONENT SCENARIO ARGS...: runs a benchmark scenario with COMPONENT under callgrind
# (which writes what ran every 2M basic blocks, so the benchmark may kill it when done) and
# prints the binary's functions that ran, in address order.
record() {
    local component="$1"
    shift
    local dir="$work/$component"
    mkdir -p "$dir"
    cat >"$dir/ferrokube" <<WRAP
#!/usr/bin/env bash
if [ "\$1" = $component ]; then
    exec valgrind --tool=callgrind --demangle=no --dump-instr=no --dump-line=no \
        --compress-strings=no --compress-pos=no --dump-every-bb=2000000 \
        --callgrind-out-file="$dir/callgrind.%p" "$binary" "\$@"
fi
exec "$binary" "\$@"
WRAP
    chmod +x "$dir/ferrokube"
    "$bench" --ferrokube "$dir/ferrokube" "$@" --out "$dir" >"$dir/bench.log" 2>&1 ||
        { tail -20 "$dir/bench.log" >&2; exit 1; }
    cat "$dir"/callgrind.* | sed -n 's/^fn=//p' | sort -u >"$dir/ran"
    join -1 2 -2 1 -o 1.1,1.2 "$work/symbols" "$dir/ran" | sort -u -k2,2 | sort -k1,1 |
        awk '{ print $2 }'
}

{
    cat "$order"
    record kubelet pod-startup --timeout-secs 600
    record controller-manager controller-convergence --replicas 200 --rollout-replicas 50 \
        --memory-deployments 100 --timeout-secs 900
} | awk '!seen[$0]++' >"$work/order"
# Keep only names the binary still has.
sort "$work/order" | join - <(cut -d' ' -f2 "$work/symbols" | sort -u) >"$work/present"
awk 'NR == FNR { keep[$0] = 1; next } keep[$0]' "$work/present" "$work/order" >"$order"
echo "cli/link.order: $(wc -l <"$order") functions" >&2
