#!/usr/bin/env bash
# Shards and merge (issue 25) on one machine, in one run, best of RUNS (default 3), wall seconds:
#   - `framelabel run` over the inputs with every thread;
#   - the same inputs as 2 shards (`run --shard I/2 --threads 1`), one after the other, then `merge`:
#     what a 2-node cluster's nodes and its merge would each spend;
#   - the merge's share of that total (goal: at most 10 %), and the balance of the plan (longest
#     shard / mean, from --print-plan) and of the shards' measured times.
# Inputs: the sample video, and clips made once from it in FRAMELABEL_BENCH_CACHE (default
# ~/.cache/framelabel-bench): the sample looped to 4 and to 8 minutes (MPEG-4 Part 2, its size).
# Options: --fps 1 --slice 120 (the 8-minute clip is cut in 4 slices), the shared models.
#   scripts/bench-shards.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/common.sh
. "$root/scripts/bench/common.sh"
inputs=("$sample")
for minutes in 4 8; do
  clip="$cache/loop${minutes}m.avi"
  if [ ! -s "$clip" ]; then
    echo "making $clip (once)" >&2
    ffmpeg -v error -y -stream_loop -1 -i "$sample" -t $((minutes * 60)) -c:v mpeg4 -q:v 4 "$clip.tmp.avi"
    mv "$clip.tmp.avi" "$clip"
  fi
  inputs+=("$clip")
done
opts=(--fps 1 --slice 120 --embedder "$embedder" --detector "$detector" -q)
declare -A best=()
keep() { best[$1]=$(python3 -c "b='${best[$1]:-}'; print(min($2, float(b)) if b else $2)"); }
for i in $(seq "$runs"); do
  read -r t _ < <(measure "$bin" run "${inputs[@]}" --out "$work/one$i" "${opts[@]}"); keep one "$t"
  read -r t0 _ < <(measure "$bin" run "${inputs[@]}" --out "$work/s0_$i" --shard 0/2 --threads 1 "${opts[@]}")
  read -r t1 _ < <(measure "$bin" run "${inputs[@]}" --out "$work/s1_$i" --shard 1/2 --threads 1 "${opts[@]}")
  read -r tm _ < <(measure "$bin" merge --out "$work/m$i" "$work/s0_$i" "$work/s1_$i" -q)
  # The round with the least total stands for all three.
  total=$(python3 -c "print($t0 + $t1 + $tm)")
  if [ -z "${best[total]:-}" ] || python3 -c "import sys; sys.exit(0 if $total < ${best[total]} else 1)"; then
    best[total]=$total; best[s0]=$t0; best[s1]=$t1; best[merge]=$tm
  fi
  # The merged folder must hold what the one run wrote (the tests check it fully).
  python3 - "$work/one$i" "$work/m$i" <<'PY'
import json, sys
def out(d):
    recs = [json.loads(l) for l in open(f"{d}/frames.jsonl")]
    for r in recs:
        r.pop("change", None)
    coco = json.load(open(f"{d}/annotations.json"))
    coco["info"].pop("date_created", None)
    return recs, coco
if out(sys.argv[1]) != out(sys.argv[2]):
    sys.exit("the merged folder differs from the one run's")
PY
  rm -rf "$work"/one$i "$work"/s?_$i "$work"/m$i
done
plan=$("$bin" run "${inputs[@]}" --out "$work/plan" --shards 2 --print-plan --json "${opts[@]}")
python3 - "$plan" <<PY
import json, sys
plan = json.loads(sys.argv[1])
b = {$(for k in "${!best[@]}"; do printf "'%s': %s, " "$k" "${best[$k]}"; done)}
units = plan["plan"]["units"]
print(f"inputs: {len(units)} units of work, {sum(u['duration'] for u in units):.0f} s of video, best of $runs")
print(f"  run, every thread                       {b['one']:7.2f} s")
print(f"  shard 0 of 2, one thread                {b['s0']:7.2f} s")
print(f"  shard 1 of 2, one thread                {b['s1']:7.2f} s")
print(f"  merge                                   {b['merge']:7.2f} s  {100 * b['merge'] / b['total']:4.1f} % of shards + merge (goal <= 10 %)")
print(f"  plan balance, longest / mean (seconds of video)  {plan['imbalance']:.2f}")
print(f"  measured balance, slower shard / mean            {max(b['s0'], b['s1']) / ((b['s0'] + b['s1']) / 2):.2f}")
PY
