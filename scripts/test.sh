#!/usr/bin/env bash
# Sets up what the tests need (scripts/setup.sh), then runs formatting, lint and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export FRAMELABEL_PYTHON="${FRAMELABEL_PYTHON:-$PWD/${FRAMELABEL_VENV:-.venv}/bin/python}"
# A clean build (CI's) gains nothing from incremental compilation's caches, only the cost of writing them.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The library's and the integration tests; clippy has already compiled the examples.
cargo test --locked --tests "$@"
