#!/usr/bin/env bash
# Times the extract stage on one video (default: ../shared/media/vtest.avi) in one run, next to
#   - the decode floor: `ffmpeg -i VIDEO -f null -` (decoding alone, FFmpeg's own program)
#   - the baseline: the original tool's loop in Python + OpenCV (scripts/bench/opencv_extract.py)
# and prints frames/s and ratios. Each command runs RUNS times (default 3); the best time counts.
#   scripts/bench-extract.sh [VIDEO]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked -q
bin="$root/target/release/framelabel"
py="$root/${FRAMELABEL_VENV:-.venv}/bin/python"
video="${1:-$root/../shared/media/vtest.avi}"
runs="${RUNS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$video")
# Every run writes into a folder of its own, and all are removed at the end: deleting a run's
# ~800 files just before the next run makes ext4 skip the recently freed inodes on each create, which
# the profile shows as a third of the run's time. A user's run does not start that way.
best() { # best wall time in seconds of "$@" (OUT in the arguments is the output folder) over $runs runs
  local best_t=""
  for _ in $(seq "$runs"); do
    local out args=() a
    out=$(mktemp -d "$work/out.XXXXXX")
    for a in "$@"; do [ "$a" = OUT ] && args+=("$out") || args+=("$a"); done
    local t0 t1
    t0=$(date +%s.%N); "${args[@]}" >/dev/null 2>&1; t1=$(date +%s.%N)
    best_t=$(python3 -c "t=$t1-$t0; b='$best_t'; print(min(t, float(b)) if b else t)")
  done
  echo "$best_t"
}
report() { # name seconds
  python3 -c "
name, t, n, floor, base = '$1', $2, $frames, ${3:-0}, ${4:-0}
line = f'{name:<46} {t:7.3f} s  {n/t:8.1f} frames/s'
if floor: line += f'  {t/floor:5.2f}x floor time'
if base: line += f'  {base/t:5.1f}x faster than OpenCV loop'
print(line)"
}

echo "video: $video ($frames frames), $(nproc) cores, best of $runs"
t_floor=$(best ffmpeg -v error -threads 1 -i "$video" -f null -)
t_floor_mt=$(best ffmpeg -v error -i "$video" -f null -)
t_py=$(best "$py" scripts/bench/opencv_extract.py "$video" OUT)
t_default=$(best "$bin" extract "$video" --out OUT -q)
t_orig=$(best "$bin" extract "$video" --out OUT -q --size 960x544 --resize stretch)
report "decode floor: ffmpeg -f null (1 thread)" "$t_floor"
report "decode floor: ffmpeg -f null (auto threads)" "$t_floor_mt"
report "Python+OpenCV loop (960x544 stretch, q95)" "$t_py" "$t_floor"
report "framelabel extract (defaults)" "$t_default" "$t_floor"
report "framelabel extract --size 960x544 --resize stretch" "$t_orig" "$t_floor" "$t_py"
