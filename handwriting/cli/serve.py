"""``handwriting serve``: the recognition service (:mod:`handwriting.service`) on uvicorn."""

from __future__ import annotations

import ipaddress
import json
import os
import socket

from ..errors import HandwritingError
from .common import add_backend_args, log


def _check_port(host: str, port: int) -> None:
    """Refuse, before the model is loaded, an address this machine cannot listen on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HandwritingError(
            f"--host {host}: not an address of this machine ({exc.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise HandwritingError(
                f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port, "
                "or stop what uses it"
            ) from None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args) -> int:
    import starlette  # noqa: F401 - the [serve] extra, named in one line when missing
    import uvicorn

    from ..recognize import model_source
    from ..service import Settings, create_app

    model_source(args.model, args.backend)  # a missing model is one line, before anything
    key = args.api_key or os.environ.get("HANDWRITING_API_KEY") or None
    if not _loopback(args.host) and not key:
        log.warning(
            "serving on %s without an API key: anyone who can reach this machine may use it "
            "(set --api-key or $HANDWRITING_API_KEY)",
            args.host,
        )
    _check_port(args.host, args.port)
    settings = Settings(
        model=args.model,
        backend=args.backend,
        threads=args.threads,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_upload_mb=args.max_upload_mb,
        api_key=key,
    )
    common = {"host": args.host, "port": args.port, "log_level": "debug" if args.debug else "info"}
    if args.workers > 1:  # each worker process loads the model and batches its own requests
        os.environ["HANDWRITING_SERVE"] = json.dumps(settings.__dict__)
        uvicorn.run(
            "handwriting.service:app_from_env", factory=True, workers=args.workers, **common
        )
    else:
        uvicorn.run(create_app(settings), **common)
    return 0


def add_parsers(sub) -> None:
    """Add the ``serve`` command to the subparsers ``sub``."""
    s = sub.add_parser(
        "serve",
        help="a recognition service over HTTP (the [serve] extra)",
        description="Serve recognition over HTTP with the model loaded once: POST an image "
        "or PDF to /v1/recognize (format json/text/alto/page/hocr, mode, beam, lm, pages); "
        "GET /v1/health, /v1/model, and / for a page to try it in a browser. Lines of "
        "concurrent requests are read in shared batches.",
    )
    s.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the model shipped in the package)",
    )
    add_backend_args(s)
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    s.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes, each with its own copy of the model (default: 1)",
    )
    s.add_argument(
        "--max-batch",
        type=int,
        default=32,
        help="most lines read in one forward pass, from all requests together (default: 32)",
    )
    s.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="longest a batch waits for lines of other requests still being read (default: "
        "0: a batch takes the lines waiting when the model is free, and more gather while it "
        "runs; a wait pays where a forward pass costs much whatever its size, as on a GPU)",
    )
    s.add_argument(
        "--max-upload-mb",
        type=float,
        default=50.0,
        help="largest upload accepted, in MB (default: 50)",
    )
    s.add_argument(
        "--api-key",
        help="a key every /v1 request must send (X-API-Key or Authorization: Bearer; "
        "default: $HANDWRITING_API_KEY, else none)",
    )
    s.set_defaults(func=cmd_serve)
