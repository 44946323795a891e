#!/usr/bin/env bash
# Long footage (issue 24): 2-minute 1080p30 clips made once from the sample video (scaled and
# looped) in a cache outside the repository (FRAMELABEL_BENCH_CACHE, default ~/.cache/framelabel-bench):
#   x264      H.264, x264 defaults (B-frames, key frame every 250)
#   ip30      H.264, IP only, key frame every 30 frames (dashcam-like)
#   hevc      HEVC, x265 defaults (B-frames, open GOPs; preset fast to make it in minutes)
#   still     H.264, the sample's first frame held for 60 s, then the sample
# For each, in one run, best of RUNS (default 3), wall seconds:
#   ffmpeg -f null of every frame, and with -skip_frame nokey (the floor of --keyframes);
#   ffmpeg -ss MID -t 10 (input seeking: the 10 s plus what lies before them since the key frame
#   before MID; the floor of --start);
#   framelabel extract --fps 1, --keyframes, --start MID --end MID+10 --fps 1 (the sampling of long
#   footage; and at every frame, where checking and writing 300 1080p frames outweighs decoding);
#   framelabel run --fps 1 and run --keyframes with the shared models (peak memory of each), and
#   run --fps 1 --min-change MIN_CHANGE (default 0.002, the README's value): frames the embedder saw,
#   and on the still clip how many held frames it kept away and how many moving frames it let by;
#   the original-structure Python peer (scripts/bench/python_run.py) taking one frame per second.
# Goals on 2 cores: extract --keyframes <= 1.3x the nokey floor; run --keyframes on ip30 >= 5x
# faster than the peer; extract --start <= 1.5x its floor; on the still clip --min-change keeps >= 90 %
# of the held frames from the embedder and every moving frame reaches it; run's peak memory < 600 MB.
#   scripts/bench-long.sh [CLIP...]     (default: x264 ip30 hevc still)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/common.sh
. "$root/scripts/bench/common.sh"
min_change="${MIN_CHANGE:-0.002}"

scale=(-vf "scale=1920:1080,fps=30")
make() {
  local name="$1" out="$cache/$1.mp4"
  [ -s "$out" ] && return
  echo "making $out (once)" >&2
  case "$name" in
    x264) ffmpeg -v error -y -stream_loop -1 -i "$sample" -t 120 "${scale[@]}" -c:v libx264 \
            -pix_fmt yuv420p "$out.tmp.mp4" ;;
    ip30) ffmpeg -v error -y -stream_loop -1 -i "$sample" -t 120 "${scale[@]}" -c:v libx264 \
            -bf 0 -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p "$out.tmp.mp4" ;;
    hevc) ffmpeg -v error -y -stream_loop -1 -i "$sample" -t 120 "${scale[@]}" -c:v libx265 \
            -preset fast -x265-params log-level=error -pix_fmt yuv420p "$out.tmp.mp4" ;;
    still) ffmpeg -v error -y -i "$sample" -t 120 \
            -vf "tpad=start_duration=60:start_mode=clone,scale=1920:1080,fps=30" -c:v libx264 \
            -pix_fmt yuv420p "$out.tmp.mp4" ;;
    *) echo "unknown clip $name" >&2; exit 2 ;;
  esac
  mv "$out.tmp.mp4" "$out"
}

clips=("$@")
[ ${#clips[@]} -gt 0 ] || clips=(x264 ip30 hevc still)
for name in "${clips[@]}"; do
  make "$name"
  clip="$cache/$name.mp4"
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip")
  mid=$(python3 -c "print(round($dur / 2, 3))")
  to=$(python3 -c "print(round($dur / 2 + 10, 3))")
  rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=avg_frame_rate -of csv=p=0 "$clip")
  every=$(python3 -c "print(round(eval('$rate')))")
  declare -A best=() mem=()
  keep() { # name seconds [mb]
    best[$1]=$(python3 -c "b='${best[$1]:-}'; print(min($2, float(b)) if b else $2)")
    [ -z "${3:-}" ] || mem[$1]=$(python3 -c "b='${mem[$1]:-}'; print(max($3, float(b)) if b else $3)")
  }
  for i in $(seq "$runs"); do
    read -r t _ < <(measure ffmpeg -v error -i "$clip" -f null -); keep all "$t"
    read -r t _ < <(measure ffmpeg -v error -skip_frame nokey -i "$clip" -f null -); keep nokey "$t"
    read -r t _ < <(measure ffmpeg -v error -ss "$mid" -t 10 -i "$clip" -f null -); keep seekfloor "$t"
    read -r t m < <(measure "$bin" extract "$clip" --out "$work/e$i" --fps 1 -q); keep xfps "$t" "$m"
    read -r t m < <(measure "$bin" extract "$clip" --out "$work/k$i" --keyframes -q); keep xkey "$t" "$m"
    read -r t m < <(measure "$bin" extract "$clip" --out "$work/s$i" --start "$mid" --end "$to" \
      --fps 1 -q); keep xstart "$t" "$m"
    read -r t m < <(measure "$bin" extract "$clip" --out "$work/sa$i" --start "$mid" --end "$to" -q)
    keep xstartall "$t" "$m"
    read -r t m < <(measure "$bin" run "$clip" --out "$work/r$i" --fps 1 --embedder "$embedder" \
      --detector "$detector" -q); keep rfps "$t" "$m"
    read -r t m < <(measure "$bin" run "$clip" --out "$work/rk$i" --keyframes --embedder "$embedder" \
      --detector "$detector" -q); keep rkey "$t" "$m"
    read -r t m < <(measure "$bin" run "$clip" --out "$work/rg$i" --fps 1 --min-change "$min_change" \
      --embedder "$embedder" --detector "$detector" -q); keep rgate "$t" "$m"
    # Frames that reached the embedder (every status but the quality checks' and still), with and
    # without the gate; on the still clip, the held picture's frames (before 60 s) and the others.
    gate=$(python3 - "$work/r$i/frames.jsonl" "$work/rg$i/frames.jsonl" <<'PY'
import json, sys
off, on = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
dropped = {"dark", "bright", "noisy", "blurry", "still"}
seen = lambda rs: sum(r["status"] not in dropped for r in rs)
held = [r for r in on if r["pts"] < 60]
moving = [r for r in on if r["pts"] > 60]
print(seen(off), seen(on), sum(r["status"] == "still" for r in held), len(held),
      sum(r["status"] == "still" for r in moving), len(moving))
PY
)
    read -r t _ < <(measure "$py" scripts/bench/python_run.py "$clip" "$work/py$i" "$embedder" \
      "$detector" "$every"); keep py "$t"
    rm -rf "$work"/*
  done
  keys=$(ffprobe -v error -select_streams v:0 -skip_frame nokey -show_entries frame=key_frame \
    -of csv=p=0 "$clip" | grep -c 1)
  python3 - <<PY
b = {$(for k in "${!best[@]}"; do printf "'%s': %s, " "$k" "${best[$k]}"; done)}
m = {$(for k in "${!mem[@]}"; do printf "'%s': %s, " "$k" "${mem[$k]}"; done)}
print(f"$name: {float('$dur'):.0f} s, $keys key frames, best of $runs")
print(f"  ffmpeg -f null, every frame             {b['all']:7.2f} s")
print(f"  ffmpeg -skip_frame nokey                {b['nokey']:7.2f} s")
print(f"  ffmpeg -ss $mid -t 10 (seek floor)       {b['seekfloor']:7.2f} s")
print(f"  extract --fps 1                         {b['xfps']:7.2f} s  {m['xfps']:6.0f} MB")
print(f"  extract --keyframes                     {b['xkey']:7.2f} s  {m['xkey']:6.0f} MB  {b['xkey']/b['nokey']:4.2f}x nokey floor (goal <= 1.3x)")
print(f"  extract --start $mid --end $to --fps 1  {b['xstart']:7.2f} s  {m['xstart']:6.0f} MB  {b['xstart']/b['seekfloor']:4.2f}x seek floor (goal <= 1.5x)")
print(f"  the same, every frame (JPEGs of them all){b['xstartall']:7.2f} s  {m['xstartall']:6.0f} MB  {b['xstartall']/b['seekfloor']:4.2f}x seek floor")
print(f"  run --fps 1                             {b['rfps']:7.2f} s  {m['rfps']:6.0f} MB")
print(f"  run --keyframes                         {b['rkey']:7.2f} s  {m['rkey']:6.0f} MB  peer / run --keyframes {b['py']/b['rkey']:4.1f}x (goal >= 5x on ip30)")
seen_off, seen_on, held_still, held, moving_still, moving = map(int, "$gate".split())
print(f"  run --fps 1 --min-change $min_change          {b['rgate']:7.2f} s  {m['rgate']:6.0f} MB  embedder saw {seen_on} frames, {seen_off} without the gate")
if "$name" == "still":
    print(f"    held picture: {held_still} of {held} frames kept from the embedder ({100 * held_still / held:.0f} %, goal >= 90 %); "
          f"moving: {moving_still} of {moving} kept from it (goal 0)")
print(f"  python peer, 1 frame in $every           {b['py']:7.2f} s  peer / run --fps 1 {b['py']/b['rfps']:4.1f}x")
print(f"  run peak memory {max(m['rfps'], m['rkey'], m['rgate']):.0f} MB (goal < 600 MB)")
PY
  unset best mem
done
