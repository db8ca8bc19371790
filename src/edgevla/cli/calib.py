"""`edgevla calib backup|list|restore|verify|hash`: keep calibration files safe and checked.

`verify` exits 1 when any file changed, is missing or was never backed up, so a recording
script can refuse to start on an unverified calibration.
"""

from __future__ import annotations

import argparse

from edgevla.cli import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="backup store (default: $EDGEVLA_CALIB_STORE or ~/.local/share/edgevla/calibration)",
    )
    parser.add_argument("--store", metavar="DIR", default=None, help="backup store directory")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("backup", parents=[common], help="record versioned copies of files")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    p = sub.add_parser("list", parents=[common], help="list backups (of PATH only, if given)")
    p.add_argument("path", nargs="?", metavar="PATH")
    p = sub.add_parser("restore", parents=[common], help="write a backup back, atomically")
    p.add_argument("id", help="backup id (or a unique prefix of at least 4 characters)")
    p.add_argument("--to", metavar="PATH", help="write here instead of the original path")
    p = sub.add_parser("verify", parents=[common], help="compare files with their last backup")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    p = sub.add_parser("hash", parents=[common], help="the calibration hash stamped in episodes")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")


def run(args: argparse.Namespace) -> int:
    from edgevla.dataset import calibration as cal

    store = cal.CalibrationStore(args.store)
    try:
        if args.action == "backup":
            for r in store.backup(args.paths):
                b = r.backup
                if r.created:
                    print(f"backed up  {b.path}  id {b.id}  sha256 {b.sha256[:16]}")
                else:
                    print(f"unchanged  {b.path}  (same as backup {b.id} of {b.time})")
            print(f"store: {store.directory}")
            return 0
        if args.action == "list":
            backups = store.list(args.path)
            if not backups:
                print(f"no backups in {store.directory}")
            for b in backups:
                print(f"{b.id}  {b.time}  sha256 {b.sha256[:16]}  {b.size:>7} B  {b.path}")
            return 0
        if args.action == "restore":
            r = store.restore(args.id, to=args.to)
            if r.saved_first is not None:
                print(f"the file there was backed up first as {r.saved_first.id}")
            print(f"restored backup {r.backup.id} ({r.backup.time}) to {r.target}")
            return 0
        if args.action == "verify":
            return _verify(store, args.paths)
        if args.action == "hash":
            print(cal.hash_files(args.paths))
            return 0
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise CliError(e.args[0] if e.args else str(e)) from None
    raise CliError(f"unknown action {args.action!r}")


def _verify(store, paths: list[str]) -> int:
    from edgevla.dataset import calibration as cal

    checks = store.verify(paths)
    if not checks:
        raise CliError(f"no files found under {paths}")
    for c in checks:
        last = f"  (last backup {c.last.id} of {c.last.time})" if c.last else ""
        print(f"{c.status.upper():<16} {c.path}{last}")
    bad = [c for c in checks if c.status != cal.OK]
    if bad:
        print(f"{len(bad)} of {len(checks)} file(s) do not match their last backup")
        return 1
    print(f"all {len(checks)} file(s) match their last backup")
    return 0
