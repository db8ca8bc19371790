"""Prove the device side is lean: import edgevla.contracts, edgevla.features and every module of edgevla.sources,
edgevla.runtime and edgevla.serve, and build the `edgevla` command's parser (every command module
is imported at start-up, so `edgevla serve` on a board needs them all torch-free at import),
with torch, transformers, edgevla.policies and edgevla.export made unimportable.

Run by test.sh (and so by CI) before the test suite; exits 1 naming each offending module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import pkgutil
import sys

BANNED_TOP = ("torch", "transformers", "torchvision", "dill", "cloudpickle")
BANNED_PREFIX = ("edgevla.policies", "edgevla.export", "edgevla.evaluate")
DEVICE_PACKAGES = (
    "edgevla.contracts",
    "edgevla.features",
    "edgevla.sources",
    "edgevla.runtime",
    "edgevla.serve",
)


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BANNED_TOP:
            raise ImportError(f"device side imported {name}")
        if name.startswith(BANNED_PREFIX):
            raise ImportError(f"device side imported {name}")
        return None


def main() -> int:
    for mod in list(sys.modules):
        if mod.split(".")[0] in ("torch", "transformers"):
            del sys.modules[mod]
    sys.meta_path.insert(0, Blocker())
    bad: list[str] = []
    for pkg in DEVICE_PACKAGES:
        try:
            module = importlib.import_module(pkg)
        except Exception as e:  # report every failure, not just the first
            bad.append(f"{pkg}: {e}")
            continue
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), pkg + "."):
            try:
                importlib.import_module(info.name)
            except Exception as e:
                bad.append(f"{info.name}: {e}")
    try:
        importlib.import_module("edgevla.cli").build_parser()
    except Exception as e:
        bad.append(f"edgevla.cli (the command's parser): {e}")
    if bad:
        print("device side is not lean:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print(
        "device side imports cleanly without torch/transformers: "
        f"{', '.join(DEVICE_PACKAGES)} and the edgevla command's parser"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
