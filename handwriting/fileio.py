"""Atomic file writes: a temporary file beside the target, then a rename over it."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import HandwritingError


def os_reason(exc: OSError) -> str:
    """What the system said about a failed file operation, in a few words: its ``strerror``,
    or for an HDF5 error (h5py, which has none) the system's words or errno found in its
    long message."""
    text = str(exc)
    found = re.search(r"error message = '([^']+)'", text)
    if found:
        return found.group(1)
    if exc.strerror and "\n" not in exc.strerror and len(exc.strerror) < 100:
        return exc.strerror
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found.group(1)))
    return text.splitlines()[0] if text else exc.__class__.__name__


def check_free_space(folder: str | Path, need: int, what: str) -> None:
    """Refuse to start writing ``need`` bytes of ``what`` into ``folder`` when its file
    system has less free space than that (HDF5 can crash the process when the disk fills in
    the middle of a file)."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise HandwritingError(
            f"{folder}: not enough free space to save {what} ({free / 2**20:.1f} MiB free, "
            f"{need / 2**20:.1f} MiB needed)"
        )


# what this package's writes leave behind when a process is killed (SIGKILL, power loss):
_STALE_FILES = re.compile(
    r"^\..+\.[0-9a-f]{8}\.tmp$"  # write_atomic
    r"|^\.epoch-\d{4,}\.(tmp\.weights\.h5|optimizer\.tmp\.npz)$"  # a run's checkpoint
)
_STALE_DIRS = re.compile(r"^\..+\.[a-z0-9_]{8}$")  # a model directory being written
_MODEL_FILES = {"model.weights.h5", "handwriting.json"}


def remove_stale_temps(folder: str | Path, min_age: float = 3600) -> int:
    """Remove the temporary files (and half-written model directories) that an earlier,
    killed run of this package left in ``folder``, when older than ``min_age`` seconds (a
    younger one may belong to a run still writing); returns how many went."""
    folder, removed = Path(folder), 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    too_new = time.time() - min_age
    for e in entries:
        try:
            if e.stat(follow_symlinks=False).st_mtime > too_new:
                continue
            if e.is_file(follow_symlinks=False) and _STALE_FILES.match(e.name):
                os.unlink(e.path)
                removed += 1
            elif (
                e.is_dir(follow_symlinks=False)
                and _STALE_DIRS.match(e.name)
                and set(os.listdir(e.path)) <= _MODEL_FILES
            ):
                shutil.rmtree(e.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    if path.is_dir():
        raise HandwritingError(f"{path}: is a directory; give a file name to write")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise HandwritingError(f"{path}: cannot write it ({exc.strerror})") from None
    except BaseException:
        _remove(tmp)
        raise


def make_dir(path: str | Path, option: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents) before any work is done, or say
    in one line why it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HandwritingError(
            f"{option} {path}: cannot create this folder ({exc.strerror}); "
            "give a folder you can write to"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HandwritingError(
            f"{option} {path}: this folder is not writable; give a folder you can write to"
        )
    return path


def check_writable(path: str | Path, option: str = "--out", is_dir: bool = False) -> None:
    """Refuse, before any work, an output file (or, ``is_dir``, folder) ``path``, made later,
    that could not be: the nearest existing folder on its way is not writable, or is a file."""
    path = Path(path).absolute()
    folder = path if is_dir else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise HandwritingError(
            f"{option} {path}: {folder} is a file, not a folder; "
            "give a path in a folder you can write to"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HandwritingError(
            f"{option} {path}: the folder {folder} is not writable; "
            "give a path in a folder you can write to"
        )


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def check_not_input(targets, inputs, option: str = "--out") -> None:
    """Refuse, before any work, an output (one of ``targets``) that is one of the ``inputs``
    (it would be lost). Each file is looked at once, however many there are."""

    def identity(path):
        try:
            st = os.stat(path)
        except OSError:  # not there (yet): nothing to lose
            return None
        return st.st_dev, st.st_ino

    sources = {identity(s): s for s in inputs if s is not None}
    sources.pop(None, None)
    for target in targets:
        source = sources.get(identity(target))
        if source is not None:
            raise HandwritingError(
                f"{option} {target} would overwrite the input {source}; choose another output name"
            )


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
