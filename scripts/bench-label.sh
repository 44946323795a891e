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
best_floor="" best_sessions="" best_label="" ratios=""
for _ in $(seq "$runs"); do
  read -r n f < <("$floor" "$work/ds" "$model" "$threads")
  best_floor=$(python3 -c "b='$best_floor'; print(min($f, float(b)) if b else $f)")
  read -r n s < <("$floor" "$work/ds" "$model" "$threads" sessions)
  best_sessions=$(python3 -c "b='$best_sessions'; print(min($s, float(b)) if b else $s)")
  t0=$(date +%s.%N)
  "$bin" label "$work/ds" --detector "$model" --threads "$threads" -q
  t1=$(date +%s.%N)
  l=$(python3 -c "print($t1 - $t0)")
  best_label=$(python3 -c "b='$best_label'; print(min($l, float(b)) if b else $l)")
  ratios="$ratios $(python3 -c "print($l / $f)")"
  echo "run: floor $f s, sessions $s s, label $l s" >&2
done
# The machine's speed drifts by 10 % or more within minutes, so besides the best of each, the ratio of
# each round (label and floor a few seconds apart) is given, as a median.
python3 -c "
import statistics
n, f, s, l = $n, $best_floor, $best_sessions, $best_label
r = [float(x) for x in '$ratios'.split()]
print(f'frames: {n}, model: $(basename "$model"), threads: $threads, best of $runs')
print(f'floor: one session on ready tensors          {f:7.3f} s  {n/f:7.1f} frames/s')
print(f'label\'s sessions side by side, ready tensors {s:7.3f} s  {n/s:7.1f} frames/s')
print(f'framelabel label (whole command)             {l:7.3f} s  {n/l:7.1f} frames/s  {l/f:5.2f}x floor (goal <= 1.15x), {l/s:5.2f}x its own sessions')
print(f'label / floor of each round: median {statistics.median(r):.2f}x, from {min(r):.2f}x to {max(r):.2f}x')"
