"""Recognition of whole archives on Ray Data (``handwriting batch``, the ``[scale]`` extra).

The same command runs on this machine (``ray.init()`` starts a local Ray) and on a cluster
(``--ray-address``). The pipeline:

1. the inputs are listed in this process (:func:`list_inputs`: files, folders searched
   recursively, glob patterns, text files of paths after ``@``; a URI such as ``s3://`` is
   opened with pyarrow's filesystems), each with the output file it will write; inputs whose
   output exists are skipped, so a stopped job starts again where it stopped;
2. Ray tasks turn each PDF or multi-page TIFF into its pages and find the text lines of each
   page (:func:`_pages`, :func:`_layout`: decoding and segmentation, on the CPUs);
3. a pool of actors, each with the model loaded once and one thread, reads the lines
   (:class:`_Reader`, by :func:`handwriting.reading.read` with the lines found in step 2, as
   ``handwriting recognize`` reads them) and writes each output atomically;
4. a summary (done, skipped, failed, pages/s) and, when inputs failed, ``failures.jsonl`` in
   the output folder: one JSON object per failed input, with its error; temporary files of
   readers killed while writing are removed.

An input that fails (unreadable, corrupt, too large) is recorded and the job goes on. An
actor that dies is replaced by Ray and its inputs are read again; no output is half-written.
"""

from __future__ import annotations

import atexit
import glob
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, HandwritingError

log = logging.getLogger(__name__)

SUFFIXES = {"text": ".txt", "json": ".json", "alto": ".xml", "page": ".xml", "hocr": ".hocr"}
FAILURES = "failures.jsonl"
READER_MEMORY = {"litert": 512 * 2**20, "keras": 1536 * 2**20}  # bytes Ray reserves per reader
_IMAGE_OR_DOC = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf")


@dataclass
class Summary:
    """What a job did: inputs (pages of documents counted one by one) done, skipped because
    their output existed, failed (with their errors), lines read, and seconds."""

    done: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    seconds: float = 0.0

    @property
    def pages_per_s(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "lines": self.lines,
            "seconds": round(self.seconds, 2),
            "pages_per_s": round(self.pages_per_s, 3),
        }


def _is_uri(name: str) -> bool:
    return "://" in name


def list_inputs(specs: list[str]) -> list[tuple[str, str]]:
    """The inputs named by ``specs``, in order, each with its path relative to the output
    folder (without suffix): a file (``x``), a folder (its images and documents, searched
    recursively: ``sub/x``, relative to the folder), a glob pattern (``x``), ``@FILE`` (a
    text file with one path or URI per line). URIs (``s3://...``, ``file://...``) are listed
    with pyarrow. Raises :class:`DataError` for a spec that names nothing."""
    found: list[tuple[str, str]] = []
    for spec in specs:
        if spec.startswith("@"):
            listed = Path(spec[1:])
            if not listed.is_file():
                raise DataError(f"{spec}: list file not found")
            names = [
                ln.strip()
                for ln in listed.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")
            ]
            found += [(n, _stem(n)) for n in names]
        elif _is_uri(spec):
            found += _list_uri(spec)
        elif Path(spec).is_dir():
            root = Path(spec)
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and p.suffix.lower() in _IMAGE_OR_DOC
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
            if not files:
                raise DataError(f"{spec}: no images or PDFs in this folder")
            found += [(str(p), str(p.relative_to(root).with_suffix(""))) for p in files]
        elif Path(spec).is_file():
            found.append((spec, _stem(spec)))
        elif glob.has_magic(spec):
            files = sorted(glob.glob(spec, recursive=True))
            if not files:
                raise DataError(f"{spec}: the pattern matches no file")
            found += [(f, _stem(f)) for f in files if Path(f).is_file()]
        else:
            raise DataError(f"{spec}: no such file or folder")
    seen: dict[str, str] = {}
    for name, rel in found:
        key = rel.lower()
        if key in seen and seen[key] != name:
            raise DataError(
                f"{seen[key]} and {name} would both be written as {rel}: give them from "
                "their folder (a folder keeps its subfolders in the output) or run them apart"
            )
        seen[key] = name
    return list(dict.fromkeys(found))


def _stem(name: str) -> str:
    return Path(name.split("://", 1)[-1]).stem


def _list_uri(uri: str) -> list[tuple[str, str]]:
    """Files under a pyarrow-readable URI (a file, or a folder searched recursively)."""
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds
        raise DataError(f"{uri}: cannot open it ({exc})") from None
    scheme = uri.split("://", 1)[0]
    if info.type == fs.FileType.File:
        return [(uri, _stem(uri))]
    if info.type != fs.FileType.Directory:
        raise DataError(f"{uri}: not found")
    infos = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    files = sorted(
        i.path
        for i in infos
        if i.type == fs.FileType.File and i.extension.lower() in {s[1:] for s in _IMAGE_OR_DOC}
    )
    if not files:
        raise DataError(f"{uri}: no images or PDFs under it")
    base = path.rstrip("/")
    return [(f"{scheme}://{f}", str(Path(f[len(base) + 1 :]).with_suffix(""))) for f in files]


def _fetch(name: str, folder: str) -> str:
    """A local path to read ``name`` from: itself, or a URI copied into ``folder``."""
    if not _is_uri(name):
        return name
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(name)
    local = Path(folder) / Path(path).name
    with filesystem.open_input_stream(path) as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return str(local)


_DOCUMENTS_KEPT = 4
_documents: OrderedDict[str, str] = OrderedDict()


def _fetch_document(uri: str) -> str:
    """A local copy of the document at ``uri``, shared by the tasks this process runs, so a
    remote PDF is downloaded once for its pages, not once per page. The copies of the last
    ``_DOCUMENTS_KEPT`` documents are kept, each in its own temporary folder (removed when
    it is evicted and when the process exits)."""
    if uri in _documents:
        _documents.move_to_end(uri)
        return _documents[uri]
    folder = tempfile.mkdtemp(prefix="handwriting-document-")
    try:
        local = _fetch(uri, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _documents[uri] = local
    while len(_documents) > _DOCUMENTS_KEPT:
        _drop_document(next(iter(_documents)))
    return local


def _drop_document(uri: str) -> None:
    """Remove the local copy of ``uri`` that :func:`_fetch_document` keeps."""
    shutil.rmtree(Path(_documents.pop(uri)).parent, ignore_errors=True)


@atexit.register
def _forget_documents() -> None:
    """Remove every local copy :func:`_fetch_document` keeps."""
    for uri in list(_documents):
        _drop_document(uri)


# ---------------------------------------------------------------- the Ray stages


def _pages(row: dict) -> list[dict]:
    """Stage 2a (a task): an input becomes its pages (a document) or stays itself, each row
    with its output file; those whose output exists are marked skipped."""
    from .multipage import document_pages, is_document

    name, out, fmt = row["source"], Path(row["out"]), row["format"]
    rows = []
    try:
        local = _fetch_document(name) if _is_uri(name) else name
        if Path(local).is_file() and is_document(local):
            for page in document_pages(local, dpi=_dpi(row["dpi"])):
                target = out.with_name(f"{out.name}-p{page.number:04d}{SUFFIXES[fmt]}")
                rows.append({**row, "source": f"{name}#page={page.number}", "out": str(target)})
        else:
            if local != name:  # an image at a URI: its reader fetches it again
                _drop_document(name)
            rows.append({**row, "out": str(out.with_name(out.name + SUFFIXES[fmt]))})
    except HandwritingError as exc:
        return [{**row, "status": "failed", "error": str(exc)}]
    except OSError as exc:
        return [{**row, "status": "failed", "error": f"{name}: cannot read it ({exc})"}]
    except Exception as exc:  # noqa: BLE001 - a bug on one input must not stop the job
        return [{**row, "status": "failed", "error": _internal(name, exc)}]
    return [
        {**r, "status": "skipped" if Path(r["out"]).exists() else "todo", "error": ""} for r in rows
    ]


def _internal(name: str, exc: Exception) -> str:
    return f"{name}: internal error ({exc!r}); please report it"


def _dpi(value) -> float | None:
    """A row's ``dpi`` (None when not given: Ray hands a missing number back as None or NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value else value


def _load(name: str, dpi, folder: str):
    """The grayscale image of an input or of a document's page (``doc.pdf#page=3``)."""
    from .images import load_image
    from .multipage import DocumentPage, page_of

    dpi = _dpi(dpi)
    doc = page_of(name, dpi) if not _is_uri(name) else None
    if doc is None and "#page=" in name and _is_uri(name):
        base, number = name.rsplit("#page=", 1)
        doc = DocumentPage(Path(_fetch_document(base)), int(number), dpi)
    if doc is not None:
        return doc.load()
    return load_image(_fetch(name, folder))


def _layout(row: dict) -> dict:
    """Stage 2b (a task): decode the input and find its lines, as ``read`` decides: a page
    (its lines, pickled, for the reader) or a line image."""
    if row["status"] != "todo":
        return {**row, "layout": b""}
    from .document import Page
    from .segment import page_lines, segment

    try:
        with tempfile.TemporaryDirectory(prefix="handwriting-batch-") as tmp:
            gray = _load(row["source"], row["dpi"], tmp)
        h, w = gray.shape
        if row["mode"] == "line":
            return {**row, "layout": b""}
        found = segment(gray) if row["mode"] == "page" else page_lines(gray)
        if found is None:  # auto: a line image
            return {**row, "layout": b""}
        return {**row, "layout": pickle.dumps(Page(None, w, h, found.lines, found.unread))}
    except HandwritingError as exc:
        return {**row, "status": "failed", "error": str(exc), "layout": b""}
    except Exception as exc:  # noqa: BLE001 - a bug on one input must not stop the job
        return {**row, "status": "failed", "error": _internal(row["source"], exc), "layout": b""}


class _Reader:
    """Stage 3 (an actor): the model, loaded once with one thread; reads each batch of rows
    and writes their outputs atomically."""

    def __init__(self, model: str | None, backend: str):
        from .recognize import model_source

        if model_source(model, backend)[1] == "keras":
            try:
                import tensorflow as tf

                tf.config.threading.set_intra_op_parallelism_threads(1)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except (ImportError, RuntimeError):
                pass
        from .recognize import Recognizer

        self.recognizer = Recognizer(model, threads=1, backend=backend)

    def __call__(self, batch: dict) -> dict:
        from .fileio import write_atomic
        from .reading import Reading, read

        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        out = {"source": [], "status": [], "error": [], "lines": []}
        lines_at, line_names = [], []
        with tempfile.TemporaryDirectory(prefix="handwriting-batch-") as tmp:
            readings = {}
            for k, row in enumerate(rows):
                if row["status"] != "todo":
                    continue
                if row["layout"]:
                    readings[k] = self._read_one(row, tmp)
                    continue
                try:  # a URI's image is fetched and decoded here
                    src = row["source"]
                    line_names.append(_load(src, row["dpi"], tmp) if _is_uri(src) else src)
                    lines_at.append(k)
                except HandwritingError as exc:
                    readings[k] = Reading(row["source"], error=str(exc))
                except Exception as exc:  # noqa: BLE001 - that input fails, not the job
                    readings[k] = Reading(row["source"], error=_internal(row["source"], exc))
            if line_names:  # line images together, in width-sorted batches
                for k, r in zip(lines_at, read(self.recognizer, line_names, "line")):
                    readings[k] = _named(r, rows[k]["source"], r.source)
        for k, row in enumerate(rows):
            status, error, n = row["status"], row["error"], 0
            r = readings.get(k)
            if r is not None:
                if r.ok:
                    try:
                        write_atomic(Path(row["out"]), r.to_bytes(row["format"]))
                        status, n = "done", len(r.page.lines)
                    except (HandwritingError, OSError) as exc:
                        status, error = "failed", f"{row['out']}: cannot write it ({exc})"
                    except Exception as exc:  # noqa: BLE001 - that input fails, not the job
                        status, error = "failed", _internal(row["source"], exc)
                else:
                    status, error = "failed", r.error
            out["source"].append(row["source"])
            out["status"].append(status)
            out["error"].append(error)
            out["lines"].append(n)
        return out

    def _read_one(self, row: dict, tmp: str):
        from .reading import Reading, read

        name = row["source"]
        try:
            gray = _load(name, row["dpi"], tmp)
        except HandwritingError as exc:
            return Reading(name, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug on one input must not stop the job
            return Reading(name, error=_internal(name, exc))
        (r,) = read(self.recognizer, [gray], "page", layout=pickle.loads(row["layout"]))
        return _named(r, name, r.source)


def _named(r, name: str, read_as: str):
    """Reading ``r`` of ``name`` (read from ``read_as``: an array, a temporary copy) named
    as ``handwriting recognize`` names it: its source ``name``, its image the file (the
    document, for a document's page)."""
    from .multipage import page_of

    r.source = name
    if r.page is not None:
        doc = page_of(name) if not _is_uri(name) else None
        if doc is None and _is_uri(name) and "#page=" in name:
            r.page.image = Path(name.rsplit("#page=", 1)[0])
        else:
            r.page.image = doc.path if doc else Path(name)
    if r.error:
        r.error = r.error.replace(read_as, name)
    return r


def _reader(model: str | None, backend: str) -> type:
    """:class:`_Reader` for ``model``, with no constructor arguments (Ray keeps those in its
    object store, where a restarted actor may not find them)."""

    class Reader(_Reader):
        def __init__(self):
            super().__init__(model, backend)

    return Reader


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse, within ``timeout`` seconds, a cluster address nothing answers at (``ray.init``
    would wait for minutes)."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HandwritingError(
            f"--ray-address {address}: give HOST:PORT (the head's GCS port, 6379 by default), "
            "ray://HOST:10001 or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise HandwritingError(
            f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); is the "
            "cluster up (ray start --head)?"
        ) from None


def connect(address: str | None, workers: int | None):
    """Start a local Ray (``address`` None) or join the cluster at ``address``; returns the
    ``ray`` module. Raises :class:`HandwritingError` when the cluster cannot be reached."""
    import ray

    if ray.is_initialized():
        return ray
    if address not in (None, "auto"):
        _check_reachable(address)
    kwargs = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:  # a CPU slot per reader actor besides one per core for the tasks
        kwargs["num_cpus"] = (os.cpu_count() or 1) + (workers or 0)
    try:  # "local": a Ray of its own, even where one started by `ray start` is running
        ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE") != "token":
            hint = (
                "; a cluster with token authentication (the default of `ray start`) also "
                "needs RAY_AUTH_MODE=token and its token in ~/.ray/auth_token or $RAY_AUTH_TOKEN"
            )
        raise HandwritingError(f"--ray-address {address}: cannot connect ({first}){hint}") from None
    cpus = ray.cluster_resources().get("CPU", 0)
    if workers and workers >= cpus:
        ray.shutdown()
        raise HandwritingError(
            f"--workers {workers}: the cluster has {cpus:g} CPUs and each reader holds one; "
            "leave some for decoding and segmentation"
        )
    return ray


def _pipeline(rows: list[dict], model, backend: str, workers: int, batch_size: int):
    """The Ray Data pipeline over ``rows``: its result rows, as they come."""
    import ray

    from .recognize import model_source

    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 200)))
    ds = ds.flat_map(_pages).map(_layout)
    # Ray Data restarts a reader that dies and gives its batch to another (max_restarts
    # and max_task_retries default to -1 for actor pools)
    ds = ds.map_batches(
        _reader(model, backend),
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        # what a reader holds (peak RSS: LiteRT about 200 MiB, Keras about 1 GiB); declaring
        # it also keeps segmentation in tasks of its own (Ray fuses stages of equal needs)
        memory=READER_MEMORY[model_source(model, backend)[1]],
        batch_format="numpy",
    )
    return ds.iter_rows()


def run(
    inputs: list[tuple[str, str]],
    out_dir: Path,
    fmt: str = "alto",
    model: str | None = None,
    backend: str = "auto",
    workers: int = 2,
    mode: str = "auto",
    dpi: float | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> Summary:
    """Read ``inputs`` (:func:`list_inputs`) into ``out_dir`` on the connected Ray
    (:func:`connect`) with ``workers`` reader actors; returns the :class:`Summary` and writes
    ``failures.jsonl`` when inputs failed (removes a stale one when none did)."""
    import ray
    from tqdm.auto import tqdm

    from .fileio import remove_stale_temps, write_atomic

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts inputs
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    started = time.perf_counter()
    summary = Summary()
    readable = []
    for name, rel in inputs:  # a name that is not UTF-8 cannot travel through Arrow
        try:
            name.encode("utf-8")
            readable.append((name, rel))
        except UnicodeEncodeError:
            shown = os.fsencode(name).decode("utf-8", "backslashreplace")  # caf\xe9.png
            summary.failed[shown] = f"{shown}: its name is not valid UTF-8; rename the file"
    inputs = readable
    rows = [
        {
            "source": name,
            "out": str(out_dir / rel),
            "format": fmt,
            "mode": mode,
            "dpi": dpi,
        }
        for name, rel in inputs
    ]
    bar = tqdm(total=len(rows), unit="input", desc="batch", disable=not progress)
    for row in _pipeline(rows, model, backend, workers, batch_size) if rows else []:
        status = row["status"]
        if status == "done":
            summary.done += 1
            summary.lines += int(row["lines"])
        elif status == "skipped":
            summary.skipped += 1
        else:
            summary.failed[row["source"]] = row["error"]
        if "#page=" not in row["source"] or row["source"].endswith("#page=1"):
            bar.update(1)
    bar.close()
    # what readers killed while writing left behind (a minute old at least: a write in
    # progress, of another job into the same folder, is younger)
    for folder, _, _ in os.walk(out_dir):
        remove_stale_temps(folder, min_age=60)
    summary.seconds = time.perf_counter() - started
    manifest = out_dir / FAILURES
    if summary.failed:
        lines = [
            json.dumps({"source": s, "error": e}, ensure_ascii=False)
            for s, e in summary.failed.items()
        ]
        write_atomic(manifest, ("\n".join(lines) + "\n").encode())
    elif manifest.exists():
        manifest.unlink()
    return summary
