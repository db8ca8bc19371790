#!/usr/bin/env bash
# A scratch Python 3.11 environment with lerobot 0.6.1, for tools/check_checkpoint_with_lerobot.py.
# Outside the repository, never a dependency of edgevla. Usage, from the repository root:
#
#   tools/make_lerobot061_env.sh /work/scratch/lerobot061
#   EDGEVLA_LEROBOT_PYTHON=/work/scratch/lerobot061/bin/python \
#       .venv/bin/python tools/check_checkpoint_with_lerobot.py
#
# It reuses the project's packages (torch 2.13 CPU among them) through a .pth file, adds what
# lerobot 0.6.1 needs in the versions it pins (transformers 5.5, huggingface-hub 1.x, draccus,
# numpy < 2.3) ahead of them, and installs lerobot without its dependency list (it asks for
# torch < 2.12 and torchvision, neither of which exists here for CPU). lerobot 0.6.1 declares
# Python >= 3.12 only for PEP 695 syntax in five files; those lines are rewritten to the 3.11
# spelling (same meaning). torchvision: see tools/lerobot_standin.py.
set -euo pipefail

dest=${1:?usage: $0 DEST_VENV}
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=${WHEELS:-$(dirname "$dest")/wheels}

python3.11 -m venv "$dest"
site="$dest/lib/python3.11/site-packages"
echo "$repo/.venv/lib/python3.11/site-packages" > "$site/zz_edgevla.pth"
"$dest/bin/pip" download -q lerobot==0.6.1 --no-deps --python-version 3.12 \
    --only-binary=:all: -d "$wheels"
"$dest/bin/pip" install -q --no-deps --ignore-requires-python "$wheels"/lerobot-0.6.1-py3-none-any.whl
"$dest/bin/pip" install -q -c "$repo/constraints.txt" "transformers>=5.4,<5.6" \
    "huggingface-hub>=1.6,<2" "draccus>=0.11.6,<0.12" "numpy>=2,<2.3" "einops>=0.8,<0.9" \
    termcolor "opencv-python-headless>=4.9,<4.14" "requests>=2.32,<3"

"$dest/bin/python" - "$site/lerobot" <<'EOF'
"""Rewrite lerobot 0.6.1's PEP 695 lines (type aliases, generic classes/functions) for 3.11."""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
EDITS = {
    "motors/motors_bus.py": [(r"^type (\w+ = )", r"\1")],
    "datasets/aggregate.py": [(r"^type (\w+ = )", r"\1")],
    "processor/pipeline.py": [
        (r"^class DataProcessorPipeline\[TInput, TOutput\]\(HubMixin\):",
         "class DataProcessorPipeline(HubMixin, Generic[TInput, TOutput]):"),
        (r"^from typing import Any, TypedDict", "from typing import Any, Generic, TypedDict"),
    ],
    "utils/io_utils.py": [
        (r"^def deserialize_json_into_object\[T: JsonLike\]\(fpath: Path, obj: T\) -> T:",
         "def deserialize_json_into_object(fpath: Path, obj):"),
    ],
    "datasets/streaming_dataset.py": [
        (r"^class Backtrackable\[T\]:", "class Backtrackable(Generic[T]):"),
        (r"^from typing import Literal$", 'from typing import Generic, Literal, TypeVar\n\nT = TypeVar("T")'),
    ],
}
for name, edits in EDITS.items():
    path = root / name
    text = path.read_text()
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        if not count:
            sys.exit(f"{path}: no line matches {pattern!r}; is this lerobot 0.6.1?")
    path.write_text(text)
bad = []
for path in root.rglob("*.py"):
    try:
        compile(path.read_text(), str(path), "exec", dont_inherit=True)
    except SyntaxError as e:
        bad.append(f"{path}:{e.lineno}")
if bad:
    sys.exit("still not Python 3.11 syntax: " + ", ".join(bad))
print(f"lerobot 0.6.1 ready for Python 3.11 in {root}")
EOF
