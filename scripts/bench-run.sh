#!/usr/bin/env bash
# Times `framelabel run` on one video (default ../shared/media/vtest.avi, every frame) with the shared
# models (the default command; and with --keep-rejected, which writes every frame's JPEG), in one
# run, next to
#   - the sum of the stage floors (examples/run_floor.rs): decoding alone + the embedder's sessions
#     alone on the frames the run embedded + the detector's sessions alone on the frames it labelled,
#     each model in the faster of its two layouts (one session with every thread, or two side by
#     side with half each, as `run` does);
#   - the same floors plus the stages' own per-frame work that they leave out (quality metrics of
#     every frame, the embedder's inputs, reading the kept JPEGs into the detector's input), timed
#     on one thread by run_floor and divided by the threads: not the goal's measure, but what a
#     pipeline of this design cannot go below, to show what `run` adds on top of it;
#   - a lower bound for any schedule of `run`'s work on these threads: the CPU time of the floors
#     (run_floor measures it in each one's faster layout), of that per-frame work, of encoding the
#     kept frames' JPEGs, of making the sessions, and of the report (`framelabel report` on the
#     run's folder), all spread over the threads with none ever idle and nothing else added;
#   - a plain Python peer doing the original tool's structure with the same two models
#     (scripts/bench/python_run.py);
# and prints frames/s, ratios and framelabel's peak memory. Best of RUNS (default 3).
# Goals (issue 6): wall time <= 1.15x the sum of floors on 2 cores; peak memory < 500 MB.
#   scripts/bench-run.sh [VIDEO]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked -q --bin framelabel --example run_floor
bin="$root/target/release/framelabel"
floor="$root/target/release/examples/run_floor"
py="$root/${FRAMELABEL_VENV:-.venv}/bin/python"
video="${1:-$root/../shared/media/vtest.avi}"
embedder="${EMBEDDER:-$root/../shared/models/mobilenetv2-12-int8-emb.onnx}"
detector="${DETECTOR:-$root/../shared/models/yolox_nano_coco.onnx}"
threads="${THREADS:-$(nproc)}"
runs="${RUNS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# CPU seconds (user + system) of a command.
cpu_of() {
  "$py" - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.4f}")
PY
}

# Wall seconds and peak RSS (MB) of a command.
measure() { "$py" "$root/scripts/bench/measure.py" "$@"; }

best_run="" best_keep="" best_mem="" best_py="" best_floor="" ratios="" work_ratios="" best_work=""
bounds=""
# Every run writes into folders of its own, all removed at the end: deleting the previous run's files
# just before makes ext4 slow to create new ones (bench-extract.sh says more).
for i in $(seq "$runs"); do
  read -r t mem < <(measure "$bin" run "$video" --out "$work/run$i" --embedder "$embedder" \
    --detector "$detector" --threads "$threads" -q)
  read -r tk memk < <(measure "$bin" run "$video" --out "$work/keep$i" --embedder "$embedder" \
    --detector "$detector" --threads "$threads" --keep-rejected -q)
  read -r n dec_s emb_n emb_s det_n det_s emb_lay det_lay work_s dec_cpu emb_cpu det_cpu enc_s \
    load_cpu < <("$floor" "$work/run$i" "$video" "$embedder" "$detector" "$threads" 8 2>/dev/null)
  f=$(python3 -c "print($dec_s + $emb_s + $det_s)")
  report_cpu=$(cpu_of "$bin" report "$work/run$i" -q)
  # Every CPU second `run` cannot do without, over the threads: no schedule goes below it.
  lb=$(python3 -c "print(($dec_cpu + $emb_cpu + $det_cpu + $work_s + $enc_s + $load_cpu + $report_cpu) / $threads)")
  bounds="$bounds $(python3 -c "print($lb / $f)")"
  read -r tp _ < <(measure "$py" scripts/bench/python_run.py "$video" "$work/py$i" "$embedder" "$detector")
  best_run=$(python3 -c "b='$best_run'; print(min($t, float(b)) if b else $t)")
  best_keep=$(python3 -c "b='$best_keep'; print(min($tk, float(b)) if b else $tk)")
  best_mem=$(python3 -c "b='$best_mem'; print(max($mem, $memk, float(b)) if b else max($mem, $memk))")
  best_floor=$(python3 -c "b='$best_floor'; print(min($f, float(b)) if b else $f)")
  best_py=$(python3 -c "b='$best_py'; print(min($tp, float(b)) if b else $tp)")
  ratios="$ratios $(python3 -c "print($t / $f)")"
  # The stages' own per-frame work, spread over the threads: what a pipeline of this design cannot
  # do without, on top of the floors.
  fw=$(python3 -c "print($f + $work_s / $threads)")
  best_work=$(python3 -c "b='$best_work'; print(min($fw, float(b)) if b else $fw)")
  work_ratios="$work_ratios $(python3 -c "print($t / $fw)")"
  echo "run: decode $dec_s s ($n frames), embedder $emb_s s ($emb_n, sessions x threads $emb_lay), detector $det_s s ($det_n, $det_lay), stages' per-frame work $work_s s on one thread; CPU s: decode $dec_cpu, embedder $emb_cpu, detector $det_cpu, JPEG encoding $enc_s, sessions made $load_cpu, report $report_cpu, so at least $lb s on $threads threads; framelabel $t s ($tk s with --keep-rejected), python $tp s" >&2
done
# The machine's speed drifts by 10 % or more within minutes (and slows `run` more than the floors),
# so besides the best of each, the ratio of each round (run and floors a few seconds apart) is given,
# as a median.
python3 -c "
import statistics
n, r, k, f, p, m, fw = $n, $best_run, $best_keep, $best_floor, $best_py, $best_mem, $best_work
q = [float(x) for x in '$ratios'.split()]
qw = [float(x) for x in '$work_ratios'.split()]
lb = [float(x) for x in '$bounds'.split()]
print(f'video: $(basename "$video"), {n} frames (every frame), embedder $(basename "$embedder"), detector $(basename "$detector"), threads $threads, best of $runs')
print(f'sum of floors (decode + embedder + detector sessions)  {f:7.3f} s  {n/f:7.1f} frames/s')
print(f'framelabel run (whole command)                         {r:7.3f} s  {n/r:7.1f} frames/s  {r/f:5.2f}x floors (goal <= 1.15x)')
print(f'framelabel run / floors of each round: median {statistics.median(q):.2f}x, from {min(q):.2f}x to {max(q):.2f}x')
print(f'floors + the stages\' per-frame work / $threads threads {fw:7.3f} s  run is {r/fw:4.2f}x that (rounds: median {statistics.median(qw):.2f}x, {min(qw):.2f}x to {max(qw):.2f}x)')
print(f'lower bound of any schedule of run\'s work on $threads threads / floors: median {statistics.median(lb):.2f}x, from {min(lb):.2f}x to {max(lb):.2f}x (no idle thread, no overhead)')
print(f'framelabel run --keep-rejected (every JPEG written)    {k:7.3f} s  {n/k:7.1f} frames/s  {k/f:5.2f}x floors')
print(f'python peer (the original structure, same models)      {p:7.3f} s  {n/p:7.1f} frames/s  framelabel is {p/r:4.1f}x faster')
print(f'framelabel peak memory (max RSS)                       {m:7.1f} MB (goal < 500 MB)')"
