#!/usr/bin/env bash
# A scratch Python 3.11 environment with lerobot 0.4.4, for tools/check_checkpoint_with_lerobot.py
# (its ACT checks: `--policies act`). Outside the repository, never a dependency of edgevla.
# Usage, from the repository root:
#
#   tools/make_lerobot044_env.sh /work/scratch/lerobot044
#   EDGEVLA_LEROBOT_PYTHON=/work/scratch/lerobot044/bin/python \
#       .venv/bin/python tools/check_checkpoint_with_lerobot.py --policies act
#
# As tools/make_lerobot061_env.sh: the project's packages (torch 2.13 CPU among them) through a
# .pth file, what lerobot 0.4.4's ACT path imports in the versions it pins ahead of them, and
# lerobot without its dependency list (it asks for torch < 2.11 and torchvision). torchvision:
# see tools/lerobot_standin.py.
set -euo pipefail

dest=${1:?usage: $0 DEST_VENV}
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=${WHEELS:-$(dirname "$dest")/wheels}

python3.11 -m venv "$dest"
site="$dest/lib/python3.11/site-packages"
echo "$repo/.venv/lib/python3.11/site-packages" > "$site/zz_edgevla.pth"
"$dest/bin/pip" download -q lerobot==0.4.4 --no-deps --only-binary=:all: -d "$wheels"
"$dest/bin/pip" install -q --no-deps "$wheels"/lerobot-0.4.4-py3-none-any.whl
"$dest/bin/pip" install -q -c "$repo/constraints.txt" "huggingface-hub>=0.34.2,<0.36" \
    draccus==0.10.0 "einops>=0.8,<0.9" "termcolor>=2.4,<4" "deepdiff>=7.0.1,<9" \
    "packaging>=24.2,<26" "transformers>=4.57,<5" "datasets>=4,<5" "jsonlines>=4,<5" \
    "accelerate>=1.10,<2" "imageio[ffmpeg]>=2.34,<3" "opencv-python-headless>=4.9,<4.13" \
    "av>=15,<16" "diffusers>=0.27.2,<0.36" "pyserial>=3.5,<4"
"$dest/bin/python" -c "import lerobot; print('lerobot', lerobot.__version__, 'in', lerobot.__file__)"
