#!/usr/bin/env bash
# Submits a framelabel job to Slurm: an array of N shards (framelabel.sbatch, one per task, each
# writing OUT_DIR/shards/I) and a merge job that starts when every task has succeeded
# (--dependency=afterok) and writes OUT_DIR. Prints both job ids.
#
#   deploy/slurm/submit.sh [--wait] N OUT_DIR INPUT... [-- RUN_OPTIONS...]
#
# --wait returns when the merge job has ended, with its exit code (1: some input could not be
# read, the others are merged). Extra sbatch options (partition, account, ...) go in SBATCH_ARGS;
# FRAMELABEL names the program if it is not `framelabel` on the PATH of the nodes. OUT_DIR and the
# inputs must be on a file system every node sees.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wait=()
if [ "${1:-}" = "--wait" ]; then
  wait=(--wait)
  shift
fi
if [ $# -lt 3 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [--wait] N OUT_DIR INPUT... [-- RUN_OPTIONS...]" >&2
  exit 2
fi
n="$1"
out="$(realpath -m "$2")"
shift 2
mkdir -p "$out/shards"
read -r -a extra <<<"${SBATCH_ARGS:-}"
array=$(sbatch --parsable "${extra[@]}" --array="0-$((n - 1))" --chdir="$out" \
  --output="$out/shards/task-%a.out" --export="ALL,FRAMELABEL_SHARDS=$n" \
  "$here/framelabel.sbatch" "$out" "$@")
array="${array%%;*}"
shards=()
for i in $(seq 0 $((n - 1))); do shards+=("$out/shards/$i"); done
merge_cmd=$(printf '%q ' "${FRAMELABEL:-framelabel}" merge --out "$out" "${shards[@]}" --quiet)
echo "array job $array"
printf 'merge job '
# With --wait, sbatch prints the merge job's id when it submits it, then waits for it to end and
# exits with its exit code; a failed shard cancels the merge (the dependency cannot be met).
exec sbatch --parsable "${extra[@]}" "${wait[@]}" --dependency="afterok:$array" \
  --kill-on-invalid-dep=yes --job-name=framelabel-merge --chdir="$out" --output="$out/merge.out" \
  --wrap "$merge_cmd"
