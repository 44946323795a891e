# Sourced by the benchmarks of long footage and of shards: sets up and builds, then defines what
# both use. `root` must be set to the repository by the caller.
#   bin, py      the release binary, the test Python (FRAMELABEL_VENV, default .venv)
#   sample       the shared sample video
#   embedder, detector   the shared models (EMBEDDER, DETECTOR override them)
#   runs         rounds per measure (RUNS, default 3)
#   cache        where clips made from the sample are kept (FRAMELABEL_BENCH_CACHE)
#   work         a temporary folder, removed on exit
#   measure CMD...   prints "SECONDS PEAK_MB" of a command
cd "$root"
scripts/setup.sh
cargo build --release --locked -q --bin framelabel
bin="$root/target/release/framelabel"
py="$root/${FRAMELABEL_VENV:-.venv}/bin/python"
sample="$root/../shared/media/vtest.avi"
embedder="${EMBEDDER:-$root/../shared/models/mobilenetv2-12-int8-emb.onnx}"
detector="${DETECTOR:-$root/../shared/models/yolox_nano_coco.onnx}"
runs="${RUNS:-3}"
cache="${FRAMELABEL_BENCH_CACHE:-$HOME/.cache/framelabel-bench}"
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
measure() { "$py" "$root/scripts/bench/measure.py" "$@"; }
