#!/usr/bin/env bash
# Sets up the development environment (idempotent) and runs the whole test suite with ruff.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
