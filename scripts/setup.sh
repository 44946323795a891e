#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build, test and run framelabel. Idempotent:
# each step checks first and does nothing when its part is already there.
#   - FFmpeg's libraries and headers (decoding), clang/pkg-config (bindings), cmake/nasm (libjpeg-turbo)
#   - the ffmpeg program (tests make their own videos with it)
#   - a Python virtual environment in .venv (packages installed with uv) with ONNX Runtime (framelabel loads its shared library,
#     onnxruntime/capi/libonnxruntime.so.*, at run time) and the packages the tests use as references
#     (OpenCV, NumPy)
#   - Chromium and a font, to open the HTML report headless in the tests
#   - Slurm and munge, for the one-node cluster the Slurm tests start (scripts/slurm-local.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

# slurm-wlm and munge: the one-node cluster of the Slurm tests (scripts/slurm-local.sh).
APT_PACKAGES=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev clang libclang-dev pkg-config
  cmake nasm ffmpeg python3-venv chromium fonts-dejavu-core tmux slurm-wlm munge)
# The installer of the Python packages (from PyPI).
UV_VERSION=0.13.9
# datumaro (the import library CVAT uses) and label-studio-sdk read the exports in the tests.
# kubernetes-validate checks the Kubernetes manifests against the API's schemas (and brings PyYAML).
PY_PACKAGES=(numpy==2.2.6 opencv-python-headless==4.12.0.88 onnxruntime==1.32.0 pycocotools==2.0.11 onnx==1.23.2 datumaro==1.13.12 label-studio-sdk==2.1.2 kubernetes-validate==1.37.0 motmetrics==1.4.0)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is Debian's; a python3 from elsewhere (pyenv) brings venv itself.
if [ ${#missing[@]} -gt 0 ] && [ "${missing[*]}" = "python3-venv" ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=()
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust from https://rustup.rs and run again" >&2
  exit 1
fi

VENV=${FRAMELABEL_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" - "${PY_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PY
then
  echo "setup: installing ${PY_PACKAGES[*]} into $VENV" >&2
  # uv (from PyPI) resolves and installs these in seconds where pip's resolver takes minutes.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "${PY_PACKAGES[@]}"
fi
