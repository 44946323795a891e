#!/usr/bin/env bash
# Times `framelabel label` against its floor in one run: the ONNX Runtime session alone on tensors
# made beforehand (examples/label_floor.rs), same model, same threads, same frames. Goal: label wall
# time <= 1.15x the floor (reading and pre-processing overlap inference). label runs two sessions
# with half the threads each side by side (Runtime::load_sessions), so the same sessions on ready
# tensors are timed too: label against them is the cost of reading and pre-processing alone.
# Best of RUNS (default 3).
#   scripts/bench-label.sh [VIDEO] [MODEL]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked -q --bin framelabel --example label_floor
bin="$root/target/release/framelabel"
floor="$root/target/release/examples/label_floor"
video="${1:-$root/../shared/media/vtest.avi}"
model="${2:-$root/../shared/models/yolox_nano_coco.onnx}"
threads="${THREADS:-$(nproc)}"
runs="${RUNS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" extract "$video" --out "$work/ds" --every 2 -q
best_floor="" best_sessions="" best_label=""
for _ in $(seq "$runs"); do
  read -r n t < <("$floor" "$work/ds" "$model" "$threads")
  best_floor=$(python3 -c "b='$best_floor'; print(min($t, float(b)) if b else $t)")
  read -r n t < <("$floor" "$work/ds" "$model" "$threads" sessions)
  best_sessions=$(python3 -c "b='$best_sessions'; print(min($t, float(b)) if b else $t)")
  t0=$(date +%s.%N)
  "$bin" label "$work/ds" --detector "$model" --threads "$threads" -q
  t1=$(date +%s.%N)
  best_label=$(python3 -c "t=$t1-$t0; b='$best_label'; print(min(t, float(b)) if b else t)")
done
python3 -c "
n, f, s, l = $n, $best_floor, $best_sessions, $best_label
print(f'frames: {n}, model: $(basename "$model"), threads: $threads, best of $runs')
print(f'floor: one session on ready tensors          {f:7.3f} s  {n/f:7.1f} frames/s')
print(f'label\'s sessions side by side, ready tensors {s:7.3f} s  {n/s:7.1f} frames/s')
print(f'framelabel label (whole command)             {l:7.3f} s  {n/l:7.1f} frames/s  {l/f:5.2f}x floor (goal <= 1.15x), {l/s:5.2f}x its own sessions')"
