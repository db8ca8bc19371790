#!/usr/bin/env bash
# The test command: makes sure the environment is installed, then runs the suite.
#   bash test.sh               # everything (CI)
#   bash test.sh -m "not slow" # the quick subset
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh --deps
export MUJOCO_GL=${MUJOCO_GL:-egl}
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python tools/check_device_imports.py
exec .venv/bin/python -m pytest "$@"
