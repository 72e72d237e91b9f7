"""The recognition service (``handwriting serve``): a Starlette app on uvicorn that keeps the
model loaded and batches the lines of concurrent requests together.

Routes:
    ``POST /v1/recognize``: an image, PDF or multi-page TIFF as the raw body or as the
        ``file`` field of a multipart form; options ``mode`` (auto/line/page), ``format``
        (json/text/alto/page/hocr), ``beam``, ``lm`` (none/model) and ``pages`` (a range, for
        documents), in the query string or the form. The answer is the file ``recognize
        --out`` writes for that input and format, read by the same code
        (:func:`handwriting.reading.read`, :meth:`~handwriting.reading.Reading.to_bytes`).
    ``GET /v1/health``: 200 once the model is loaded (503 before).
    ``GET /v1/model``: the model's description (charset size, validation figures, version).
    ``GET /``: a page to upload a scan and see its lines drawn on it.

Every ``/v1`` route checks the API key when one is set (``X-API-Key`` or ``Authorization:
Bearer``). Bad input is a 4xx answer with one line of JSON, ``{"error": "..."}``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import hmac
import json
import logging
import queue
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .errors import HandwritingError
from .reading import FILE_FORMATS, MODES

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "alto": "application/xml",
    "page": "application/xml",
    "hocr": "application/xhtml+xml",
}
OPTIONS = ("mode", "format", "beam", "lm", "pages")
MAX_BEAM = 64
_PAGE_HTML = Path(__file__).with_name("service_page.html")


@dataclass
class Settings:
    """How the service runs (``handwriting serve`` options)."""

    model: str | None = None
    backend: str = "auto"
    threads: int | None = None
    max_batch: int = 32
    max_wait_ms: float = 0.0
    max_upload_mb: float = 50.0
    api_key: str | None = None


class BatchingBackend:
    """A model backend shared by concurrent requests: :meth:`predict` calls made at about
    the same time with batches of the same shape (the same width bucket) are run as one
    batch of up to ``max_batch`` lines, waiting at most ``max_wait_ms`` for others while
    other requests are being read. A line reads the same in any batch."""

    def __init__(self, backend, max_batch: int = 32, max_wait_ms: float = 0.0):
        self.backend = backend
        self.charset = backend.charset
        self.preprocess_config = backend.preprocess_config
        self.downsample = backend.downsample
        self.meta = backend.meta
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.batches = 0  # forward passes run (a figure for the benchmark)
        self._queue: queue.Queue = queue.Queue()
        self._active = 0  # requests being read now
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="batcher", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def reading(self):
        """Around one request: while it is open, the batcher may wait for that request's
        lines."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """``backend.predict(batch)``, run together with other callers' batches."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((batch, done))
        return done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        waiting: list = []  # batches of another shape, for the next round
        while True:
            first = waiting.pop(0) if waiting else self._queue.get()
            if first is None:
                return
            group, lines = [first], len(first[0])
            deadline = time.monotonic() + self.max_wait
            while lines < self.max_batch:
                with self._lock:
                    everyone = len(group) + len(waiting) >= self._active
                if everyone and self._queue.empty():
                    break  # no other request is being read: nothing to wait for
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                if (
                    item[0].shape[1:] == first[0].shape[1:]
                    and lines + len(item[0]) <= self.max_batch
                ):
                    group.append(item)
                    lines += len(item[0])
                else:
                    waiting.append(item)
            self._run(group)

    def _run(self, group) -> None:
        try:
            out = self.backend.predict(np.concatenate([batch for batch, _ in group]))
        except Exception as exc:  # noqa: BLE001 - each caller gets the error
            for _, done in group:
                done.set_exception(exc)
            return
        self.batches += 1
        start = 0
        for batch, done in group:
            done.set_result(out[start : start + len(batch)])
            start += len(batch)


class BadRequest(Exception):
    """A request the service refuses: its HTTP status and one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Engine:
    """The model, loaded once (in the background: :attr:`ready` is set when it is), and the
    reading of one request with it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.ready = threading.Event()
        self.failed: str | None = None
        self.recognizer = None
        self.lm = None  # (fusion, beam) of the model's own language model, if it has one

    def load(self) -> None:
        """Load the model (and its language model, if it ships one)."""
        from .recognize import Recognizer

        try:
            rec = Recognizer(
                self.settings.model,
                batch_size=self.settings.max_batch,
                threads=self.settings.threads,
                backend=self.settings.backend,
            )
            rec.backend = BatchingBackend(
                rec.backend, self.settings.max_batch, self.settings.max_wait_ms
            )
            try:
                from .lm import load_fusion

                self.lm = load_fusion("model", rec.charset.chars, 0, None, None, model=rec.path)
            except HandwritingError:
                self.lm = None  # the model ships none: lm=model is refused
            self.recognizer = rec
            log.info("model %s loaded (%s)", rec.path, rec.backend_name)
        except Exception as exc:  # noqa: BLE001 - reported by /v1/health
            self.failed = str(exc)
            log.error("the model did not load: %s", exc)
        finally:
            self.ready.set()

    def model_info(self) -> dict:
        """What ``GET /v1/model`` answers."""
        rec = self.recognizer
        meta = rec.backend.meta
        metrics = meta.get("metrics") or (meta.get("source") or {}).get("metrics") or {}
        return {
            "handwriting_version": __version__,
            "model": rec.path.name if rec.path.name != "default.tflite" else "default",
            "backend": rec.backend_name,
            "created": meta.get("created"),
            "charset_size": len(rec.charset.chars),
            "line_height": rec.preprocess_config.height,
            "metrics": metrics,
            "language_model": self.lm is not None,
            "max_batch": self.settings.max_batch,
        }

    def decoder(self, beam: int, lm: str):
        """The shared recognizer decoding with ``beam`` and ``lm`` ("none" or "model")."""
        rec = copy.copy(self.recognizer)
        rec.beam, rec.fusion = beam, None
        if lm == "model":
            if self.lm is None:
                raise BadRequest(400, "lm=model: this model ships no language model")
            rec.fusion, default_beam = self.lm
            rec.beam = beam if beam > 1 else default_beam  # as the CLI: --beam 1 --lm: 10
        return rec

    def read(self, data: bytes, name: str, options: dict) -> tuple[bytes, str]:
        """Read the uploaded ``data`` (a file called ``name``) with ``options``; returns the
        answer's bytes and media type, or raises :class:`BadRequest`."""
        from .multipage import expand_documents, is_document
        from .reading import read

        rec = self.decoder(options["beam"], options["lm"])
        with tempfile.TemporaryDirectory(prefix="handwriting-serve-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            if options["pages"] and not is_document(path):
                raise BadRequest(400, f"pages={options['pages']}: {name} is not a PDF or TIFF")
            inputs, bad = expand_documents([str(path)], options["pages"])
            if bad:
                raise BadRequest(422, _untmp(bad[str(path)], tmp))
            fmt = options["format"]
            if len(inputs) > 1 and fmt in ("alto", "page", "hocr"):
                raise BadRequest(
                    400,
                    f"format={fmt} holds one page and {name} has {len(inputs)}: pick one "
                    "with pages=N, or ask for json or text",
                )
            with self.recognizer.backend.reading():
                readings = read(rec, inputs, options["mode"])
            for r in readings:
                r.source = _untmp(r.source, tmp)
                if r.page is not None:
                    r.page.image = Path(name)
                if r.error:
                    r.error = _untmp(r.error, tmp)
        failed = [r for r in readings if not r.ok]
        if any("internal error" in r.error for r in failed):
            raise RuntimeError(failed[0].error)
        if len(failed) == len(readings):
            raise BadRequest(422, failed[0].error)
        if fmt == "json" and len(readings) > 1:
            body = json.dumps([r.to_dict() for r in readings], ensure_ascii=False, indent=2)
            return (body + "\n").encode(), MEDIA_TYPES[fmt]
        return b"".join(r.to_bytes(fmt) for r in readings if r.ok), MEDIA_TYPES[fmt]


def _untmp(text: str, tmp: str) -> str:
    """``text`` with the private upload folder taken out of the file names it holds."""
    return text.replace(tmp + "/", "")


def safe_name(name: str | None) -> str:
    """A client's file name reduced to a plain file name (no folders, no control
    characters; ``upload`` when nothing is left)."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    # at most 200 bytes: file systems limit names to 255 bytes, not characters
    name = name.encode("utf-8", "ignore")[:200].decode("utf-8", "ignore")
    return name or "upload"


def parse_options(values) -> dict:
    """The reading options of a request (a mapping of strings), checked: unknown names and
    bad values are :class:`BadRequest` (400)."""
    from .multipage import parse_pages

    unknown = sorted(set(values) - set(OPTIONS) - {"file"})
    if unknown:
        raise BadRequest(400, f"unknown option {unknown[0]!r} (known: {', '.join(OPTIONS)})")
    mode = values.get("mode", "auto")
    fmt = values.get("format", "json")
    lm = values.get("lm", "none")
    if mode not in MODES:
        raise BadRequest(400, f"mode={mode!r}: one of {', '.join(MODES)}")
    if fmt not in FILE_FORMATS:
        raise BadRequest(400, f"format={fmt!r}: one of {', '.join(FILE_FORMATS)}")
    if lm not in ("none", "model"):
        raise BadRequest(400, f"lm={lm!r}: none or model (the model's own language model)")
    try:
        beam = int(values.get("beam", 0))
    except ValueError:
        beam = -1
    if not 0 <= beam <= MAX_BEAM:
        raise BadRequest(400, f"beam={values.get('beam')!r}: a whole number from 0 to {MAX_BEAM}")
    pages = values.get("pages") or None
    try:
        parse_pages(pages)
    except HandwritingError as exc:
        raise BadRequest(400, str(exc).replace("--pages", "pages=")) from None
    return {"mode": mode, "format": fmt, "beam": beam, "lm": lm, "pages": pages}


def create_app(settings: Settings, engine: Engine | None = None):
    """The Starlette application; the model starts loading when the app starts."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException, MultiPartParser
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    engine = engine or Engine(settings)
    limit = int(settings.max_upload_mb * 2**20)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def refused(request: Request) -> JSONResponse | None:
        """The answer to a request without the API key, or None."""
        if not settings.api_key:
            return None
        given = request.headers.get("x-api-key") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if hmac.compare_digest(given.encode(), settings.api_key.encode()):
            return None
        return error(
            401, "missing or wrong API key (send it as X-API-Key or Authorization: Bearer)"
        )

    def not_ready() -> JSONResponse | None:
        if not engine.ready.is_set():
            return JSONResponse(
                {"error": "the model is loading; try again shortly"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        if engine.failed:  # the detail (paths on this server) is in the server's log
            return error(503, "the model did not load; the server's log says why")
        return None

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BadRequest(413, f"upload over the limit of {settings.max_upload_mb:g} MB")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"upload over the limit of {settings.max_upload_mb:g} MB")
            chunks.append(chunk)
        return b"".join(chunks)

    async def recognize(request: Request) -> Response:
        if (answer := refused(request) or not_ready()) is not None:
            return answer
        try:
            data = await body_of(request)
            values = dict(request.query_params)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            name = "upload"
            if kind == "multipart/form-data":

                async def once():
                    yield data

                try:
                    form = await MultiPartParser(
                        request.headers, once(), max_files=1, max_part_size=limit
                    ).parse()
                except MultiPartException as exc:
                    raise BadRequest(400, f"a multipart form that cannot be read: {exc}") from None
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise BadRequest(
                        400, "the multipart form needs the image in a field named file"
                    )
                data = await upload.read()
                name = safe_name(upload.filename)
                values.update({k: v for k, v in form.items() if not isinstance(v, UploadFile)})
            elif kind in (
                "application/x-www-form-urlencoded",
                "application/json",
            ) or kind.startswith("text/"):
                raise BadRequest(
                    415,
                    f"Content-Type {kind}: send the image as the raw body (image/*, "
                    "application/pdf, application/octet-stream) or as multipart/form-data",
                )
            else:
                name = safe_name(
                    request.query_params.get("name") or request.headers.get("x-filename")
                )
                values.pop("name", None)
            if not data:
                raise BadRequest(400, "empty body: send an image")
            options = parse_options(values)
            body, media = await run_in_threadpool(engine.read, data, name, options)
        except BadRequest as exc:
            return error(exc.status, str(exc))
        return Response(body, media_type=media)

    async def health(request: Request) -> Response:
        if (answer := refused(request) or not_ready()) is not None:
            return answer
        return JSONResponse({"status": "ready"})

    async def model(request: Request) -> Response:
        if (answer := refused(request) or not_ready()) is not None:
            return answer
        return JSONResponse(engine.model_info())

    async def page(request: Request) -> Response:
        return HTMLResponse(_PAGE_HTML.read_text(encoding="utf-8"))

    async def not_found(request: Request, exc) -> Response:
        return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=engine.load, name="model-load", daemon=True).start()
        yield
        if engine.recognizer is not None:
            engine.recognizer.backend.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/v1/recognize", recognize, methods=["POST"]),
            Route("/v1/health", health),
            Route("/v1/model", model),
        ],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app


def app_from_env():
    """The app for uvicorn's worker processes (``serve --workers N``): the settings come
    from ``$HANDWRITING_SERVE`` (JSON)."""
    import os

    return create_app(Settings(**json.loads(os.environ["HANDWRITING_SERVE"])))
