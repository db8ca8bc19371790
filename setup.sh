#!/usr/bin/env bash
# One command from a fresh clone: install what the machine lacks, build .venv, then run the
# main job (record a small dataset in the sim and print where it went).
#   bash setup.sh            # install + main job
#   bash setup.sh --deps     # install only (what test.sh and CI use)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
PY=${PYTHON:-python3}

need_apt=()
# Headless rendering: Debian's Mesa EGL (OSMesa as fallback); ffmpeg libs come with the av wheel.
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libosmesa6; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  echo "setup: installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.edgevla-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing edgevla[dev] into .venv (torch pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # torch first and alone, so nothing can resolve a CUDA build instead of the pinned CPU one.
  .venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--deps" ]; then
  exit 0
fi

export MUJOCO_GL=${MUJOCO_GL:-egl}
out="$ROOT/outputs/quickstart-dataset"
echo "setup: recording a small dataset in the sim workcell -> $out"
.venv/bin/edgevla record --out "$out" --clusters 1,2,3 --holdout 3 \
  --episodes-per-cluster 2 --recovery-per-cluster 1 --resolution 96x96 --overwrite
