#!/usr/bin/env bash
# `run --track` (issue 26) on the sample video at 2 frames/s with the shared models, best of RUNS
# (default 3), wall seconds:
#   - `run` and `run --track` (default --track-fps: 5 frames/s between kept frames), and their
#     difference split into the track pass's own parts as run.json records them: decoding and
#     detecting the frames between kept ones (`detect_s`), and the tracker with the checks
#     (`tracker_s`);
#   - the number of tracks, the share of kept frames' boxes in tracks of 3+ frames, and the share
#     of kept frames flagged per reason.
#   scripts/bench-track.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/common.sh
. "$root/scripts/bench/common.sh"
opts=(--fps 2 --embedder "$embedder" --detector "$detector" -q --no-report)
plain=""
tracked=""
for i in $(seq "$runs"); do
  read -r t _ < <(measure "$bin" run "$sample" --out "$work/plain$i" "${opts[@]}")
  plain=$(python3 -c "b='$plain'; print(min($t, float(b)) if b else $t)")
  read -r t _ < <(measure "$bin" run "$sample" --out "$work/track$i" --track "${opts[@]}")
  if [ -z "$tracked" ] || python3 -c "import sys; sys.exit(0 if $t < $tracked else 1)"; then
    tracked=$t
    cp "$work/track$i/run.json" "$work/best-track.json"
  fi
  rm -rf "$work/plain$i" "$work/track$i"
done
python3 - "$work/best-track.json" "$plain" "$tracked" "$runs" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
plain, tracked = float(sys.argv[2]), float(sys.argv[3])
t = run["track"]
print("sample video at 2 frames/s, best of " + sys.argv[4])
print(f"run:          {plain:6.2f} s")
print(f"run --track:  {tracked:6.2f} s  ({tracked / plain:.2f}x, +{tracked - plain:.2f} s)")
print(f"  frames between kept ones decoded and detected: {t['detected']} in {t['detect_s']:.2f} s "
      f"({t['detected'] / max(t['detect_s'], 1e-9):.0f} frames/s)")
print(f"  tracker and checks: {t['tracker_s'] * 1000:.1f} ms for {t['frames']} frames")
print(f"tracks: {t['tracks']} ({t['tracks_3']} seen in 3+ frames); boxes of kept frames in them: "
      f"{t['boxes_in_tracks_3']} of {t['boxes']} ({t['boxes_in_tracks_3'] / max(t['boxes'], 1):.1%})")
k = t["kept_frames"]
print(f"kept frames flagged: {t['frames_flagged_any']} of {k} ({t['frames_flagged_any'] / max(k, 1):.1%})")
for reason in ["missed", "lonely", "class_flip", "score_dip"]:
    n = t["frames_flagged"].get(reason, 0)
    print(f"  {reason:10s} {n:4d} frames ({n / max(k, 1):.1%}), {t['boxes_flagged'].get(reason, 0)} boxes")
PY
