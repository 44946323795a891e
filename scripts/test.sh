#!/usr/bin/env bash
# Sets up what the tests need (scripts/setup.sh), then runs formatting, lint and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export FRAMELABEL_PYTHON="${FRAMELABEL_PYTHON:-$PWD/${FRAMELABEL_VENV:-.venv}/bin/python}"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked "$@"
