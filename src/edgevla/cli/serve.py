"""`edgevla serve`: run the gRPC policy server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from edgevla.cli import CliError
from edgevla.serve.limits import ISOLATIONS, ServeLimits
from edgevla.sources import POLICY_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = pick a free one)")
    parser.add_argument(
        "--policy",
        action="append",
        metavar="[NAME=]SOURCE",
        help=f"{POLICY_HELP}; zeros/hold options chunk_size, fps, cameras=top+gripper, "
        "image=HxW; NAME= names it for clients; repeat to serve several (default: scripted)",
    )
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM); needs --tls-key")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument(
        "--token-file", type=Path, help="file holding the bearer token clients must send"
    )
    limits = ServeLimits()
    parser.add_argument(
        "--max-message-mb",
        type=float,
        default=None,
        help="message size limit (default: twice the largest observation the policies read)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=limits.max_sessions, help="open sessions in all"
    )
    parser.add_argument(
        "--max-sessions-per-peer",
        type=int,
        default=limits.max_sessions_per_peer,
        help="open sessions from one host",
    )
    parser.add_argument(
        "--session-idle-s",
        type=float,
        default=limits.session_idle_s,
        help="a session unused this long is closed",
    )
    parser.add_argument(
        "--workers", type=int, default=limits.workers, help="inference workers per policy"
    )
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default=limits.isolation,
        help="workers as threads of the server, or a process each that loads the policy "
        "itself (own GIL, cores/workers threads; parallel inference scales on CPU)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=limits.max_in_flight,
        help="requests of one session computed at once (pipelining)",
    )
    parser.add_argument(
        "--infer-timeout-s",
        type=float,
        default=limits.infer_timeout_s,
        help="with --isolation process: a worker that has not answered one inference in this "
        "long is killed and restarted",
    )
    parser.add_argument(
        "--peer-rate",
        type=float,
        default=limits.peer_rate,
        help="PolicyService calls per second allowed from one host",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])


def run(args: argparse.Namespace) -> int:
    from edgevla.serve import PolicyServer, ServeError
    from edgevla.sources import PolicySourceError, named_sources, parse_source, resolve_named

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise CliError("--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not path.is_file():
            raise CliError(f"expected a PEM file, {path} does not exist")
    token = _read_token(args.token_file) if args.token_file else None
    try:
        limits = ServeLimits(
            max_sessions=args.max_sessions,
            max_sessions_per_peer=args.max_sessions_per_peer,
            session_idle_s=args.session_idle_s,
            workers=args.workers,
            isolation=args.isolation,
            max_in_flight=args.max_in_flight,
            infer_timeout_s=args.infer_timeout_s,
            max_message_mb=args.max_message_mb,
            peer_rate=args.peer_rate,
            peer_burst=args.peer_rate,
        )
    except ValueError as e:
        raise CliError(str(e)) from e
    try:
        if limits.isolation == "process":  # each worker process loads its own
            policies = named_sources(args.policy or ["scripted"])
        else:
            policies = resolve_named(args.policy or ["scripted"])
    except PolicySourceError as e:
        raise CliError(str(e)) from e
    share_cores(args.workers)
    if any(parse_source(spec)[1] == "zeros" for spec in args.policy or ()):
        logging.warning("the zeros policy drives every joint to 0: never point it at a real arm")
    server = PolicyServer(
        policies,
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        token=token,
        limits=limits,
    )
    try:
        server.start()
    except ServeError as e:
        raise CliError(str(e)) from e
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        logging.info("interrupted: stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop(grace=2.0)
    return 0


def share_cores(workers: int) -> None:
    """With several inference workers, give each torch call cores/workers threads: torch's
    default (every core per call) makes parallel calls fight over the same cores."""
    torch = sys.modules.get("torch")  # only a torch policy loaded it; bundles never do
    if torch is not None and workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _read_token(path: Path) -> str:
    if not path.is_file():
        raise CliError(f"--token-file: {path} does not exist")
    token = path.read_text().strip()
    if not token or any(c.isspace() for c in token):
        raise CliError(f"--token-file: {path} must hold one token without spaces")
    return token
