#!/usr/bin/env bash
# Dedup benchmarks, printed as figures:
#   1. near-duplicate selection at scale on synthetic clustered 512-d embeddings (examples/dedup_scale.rs),
#      approximate index and exact rule: time, kept count, planted groups found whole, share of the
#      duplicates found, peak memory; N from $SIZES (default 100000 1000000);
#   2. embedding throughput of framelabel dedup with the shared MobileNetV2 on frames of VIDEO,
#      batch 1 against batch 8 (same frames, same threads).
#   scripts/bench-dedup.sh [VIDEO]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked -q --bin framelabel --example dedup_scale
bin="$root/target/release/framelabel"
video="${1:-$root/../shared/media/vtest.avi}"
model="$root/../shared/models/mobilenetv2-12-int8-emb.onnx"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for n in ${SIZES:-100000 1000000}; do
  "$root/target/release/examples/dedup_scale" "$n"
done
# Near-copies right at the threshold (members ~0.96 alike): the hard case for the index.
"$root/target/release/examples/dedup_scale" 100000 10 0.95 0.2

"$bin" extract "$video" --out "$work/base" --every 2 -q
for b in 1 8; do
  rm -rf "$work/ds"; cp -r "$work/base" "$work/ds"
  "$bin" dedup "$work/ds" --embedder "$model" --batch-size "$b" --json -q > "$work/s.json"
  python3 -c "
import json; s = json.load(open('$work/s.json'))
print(f'embedding + dedup, batch $b: {s[\"frames\"]} frames in {s[\"elapsed_s\"]:.2f} s = {s[\"frames_per_s\"]:.1f} frames/s')"
done
