#!/usr/bin/env bash
# Sets up, builds, and runs framelabel on the given videos, or on OpenCV's sample video vtest.avi,
# then says where the results are.
#   scripts/demo.sh [VIDEO...]          results in ./demo-out (or $FRAMELABEL_DEMO_OUT)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked
bin="$root/target/release/framelabel"
out="${FRAMELABEL_DEMO_OUT:-$root/demo-out}"

VTEST_SHA256=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
VTEST_URL=https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi

videos=("$@")
if [ ${#videos[@]} -eq 0 ]; then
  if [ -f "$root/../shared/media/vtest.avi" ]; then
    videos=("$root/../shared/media/vtest.avi")
  else
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/framelabel"
    mkdir -p "$cache"
    sample="$cache/vtest.avi"
    if [ ! -f "$sample" ] || ! echo "$VTEST_SHA256  $sample" | sha256sum -c --quiet 2>/dev/null; then
      echo "demo: downloading the sample video vtest.avi from OpenCV's repository" >&2
      curl -fL --retry 3 -o "$sample.part" "$VTEST_URL"
      if ! echo "$VTEST_SHA256  $sample.part" | sha256sum -c --quiet; then
        rm -f "$sample.part"
        echo "demo: the downloaded vtest.avi does not have the expected sha256; not using it" >&2
        exit 1
      fi
      mv "$sample.part" "$sample"
    fi
    videos=("$sample")
  fi
fi

# The default models, downloaded once into the cache; without internet, the shared test models.
model() { # NAME SHARED_FILE -> the spec to use
  if "$bin" models fetch "$1" >/dev/null 2>&1; then
    echo "$1"
  elif [ -f "$root/../shared/models/$2" ]; then
    echo "demo: cannot download $1 (no network?); using the shared model ../shared/models/$2 instead" >&2
    echo "$root/../shared/models/$2"
  else
    echo "demo: cannot download $1 and ../shared/models/ is absent; run \`framelabel models fetch $1\` with network access" >&2
    exit 1
  fi
}
detector=$(model yolox-s yolox_nano_coco.onnx)
embedder=$(model clip-vit-b32 mobilenetv2-12-int8-emb.onnx)

# The whole pipeline in one pass; two frames per second keep the demo quick (drop --fps for all).
# --track: the detector also runs on 5 frames a second between kept frames, for the review queue.
"$bin" run "${videos[@]}" --out "$out" --force --fps 2 --detector "$detector" --embedder "$embedder" \
  --track --export yolo,label-studio
echo
echo "Results in $out:"
echo "  $out/images/           kept frames, near-duplicates removed ($(find "$out/images" -name '*.jpg' | wc -l) JPEGs)"
echo "  $out/annotations.json  COCO pseudo labels (boxes with scores) for review"
echo "  $out/predictions.json  every detection before filters (COCO results format)"
echo "  $out/frames.jsonl      one record per sampled frame: metrics, why kept or dropped, box count"
echo "  $out/run.json          parameters, models (with sha256), counts and timings"
echo "  $out/review.json       kept frames in the order to review them (tracks.jsonl: the tracks)"
echo "  $out/export/           the labels for Ultralytics YOLO and Label Studio (tasks in review order)"
echo "  $out/report/index.html the report: counts, classes, plots, annotated and rejected frames"
