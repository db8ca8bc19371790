"""The one policy registry (DESIGN §3, policy source): what `--policy` means in every command.

A source is `[NAME=]KIND[:key=value,...]` or a directory:

- `scripted[:k=v,...]` the sim's scripted expert planning chunks (needs `edgevla[sim]`)
- `hold`, `zeros`      no model: repeat the state / a zero chunk (plumbing, benchmarks)
- a checkpoint         LeRobot's layout (`config.json` + `model.safetensors`, or a directory
                       holding `pretrained_model/`), any registered policy type (needs torch)
- a bundle             a directory with `manifest.json` (the exported, torch-free form)

Each kind imports its package only when asked for, so this module is device-side clean:
`hold`, `zeros` and bundles never pull torch. `NAME=` names a policy where several are served.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgevla.contracts import ChunkPolicy
from edgevla.sources.kinds import KINDS, PolicySourceError, load_directory

POLICY_HELP = (
    "policy source: scripted[:k=v,...] (the sim expert), hold, zeros[:chunk_size=N,...], "
    "a checkpoint directory in LeRobot's layout (ACT, SmolVLA), or a bundle directory"
)

__all__ = [
    "KINDS",
    "POLICY_HELP",
    "PolicySourceError",
    "named_sources",
    "parse_source",
    "resolve_named",
    "resolve_policy",
]


def parse_source(text: str) -> tuple[str, str, dict[str, str]]:
    """`arm=zeros:chunk_size=50,fps=30` -> ("arm", "zeros", {"chunk_size": "50", "fps": "30"}).

    An existing path is taken whole (a path may hold `:` or `=`); NAME defaults to the kind,
    or to the directory's name for a path."""
    name, sep, rest = text.partition("=")
    if not sep or _is_path(text) or ":" in name or not name:
        name, rest = "", text
    if _is_path(rest):
        return name or _path_name(rest), rest, {}
    kind, _, opts = rest.partition(":")
    if not kind:
        raise PolicySourceError(f"policy source {text!r} has no kind; expected {POLICY_HELP}")
    options: dict[str, str] = {}
    for item in filter(None, opts.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PolicySourceError(f"policy source {text!r}: option {item!r} is not key=value")
        options[key] = value
    return name or kind, kind, options


def resolve_policy(
    source: str, *, fps: float = 30.0, seed: int | None = 0, threads: int | None = None
) -> ChunkPolicy:
    """The ChunkPolicy a `--policy` string names. `fps` is the control rate it will run at
    (checkpoints do not record one); `seed` seeds a stochastic policy's noise at every reset;
    `threads` overrides a bundle's onnxruntime threads per block (a server's worker process
    takes its share of the cores; torch's threads are the process's, set by the caller)."""
    _, kind, options = parse_source(source)
    if kind in KINDS:
        return KINDS[kind](options)
    path = Path(kind)
    if kind and path.is_dir():
        return load_directory(path, fps=fps, seed=seed, threads=threads)
    if path.exists():
        raise PolicySourceError(f"--policy {kind}: a file, not a checkpoint or bundle directory")
    raise PolicySourceError(
        f"--policy {kind!r}: not a known kind ({', '.join(sorted(KINDS))}) and no such directory; "
        f"expected {POLICY_HELP}"
    )


def named_sources(sources: Sequence[str]) -> dict[str, str]:
    """name -> the source without its `NAME=`, for several (a server's), loading nothing;
    names must be unique (`NAME=SOURCE`)."""
    named: dict[str, str] = {}
    for source in sources:
        name, kind, options = parse_source(source)
        if name in named:
            raise PolicySourceError(f"two policies named {name!r}; name them: NAME=SOURCE")
        opts = ",".join(f"{k}={v}" for k, v in options.items())
        named[name] = f"{kind}:{opts}" if opts else kind
    return named


def resolve_named(
    sources: Sequence[str], *, fps: float = 30.0, seed: int | None = 0
) -> dict[str, ChunkPolicy]:
    """name -> policy for several sources (a server's); names must be unique (`NAME=SOURCE`)."""
    return {
        name: resolve_policy(source, fps=fps, seed=seed)
        for name, source in named_sources(sources).items()
    }


def _path_name(path: str) -> str:
    """A source directory's name: its own, or the run's for `<run>/checkpoints/<step>/...`."""
    parts = Path(path).absolute().parts
    if "checkpoints" in parts[1:]:
        return parts[len(parts) - 1 - parts[::-1].index("checkpoints") - 1]
    return parts[-1] if parts[-1] != "pretrained_model" else parts[-2]


def _is_path(text: str) -> bool:
    return bool(text) and Path(text).exists()
