#!/usr/bin/env bash
# Sets up the development environment (idempotent) and runs the whole test suite with ruff.
# The browser tests' screenshots and axe-core reports land in test-artifacts/ (emptied first),
# or in $SCANPAY_ARTIFACTS when set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --dev
.venv/bin/ruff check .
[ -n "${SCANPAY_ARTIFACTS:-}" ] || rm -rf test-artifacts
.venv/bin/python -m pytest "$@"
