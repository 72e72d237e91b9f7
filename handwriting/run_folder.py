"""The folder of a training run and everything in it, by name: the resolved configuration,
the log of starts and resumes, the epoch history, the skipped lines, and the checkpoint
that is committed and restored as one unit.

A run folder holds::

    OUT/
      handwriting.json, model.weights.h5   the best model so far (a model directory)
      config.json                          the resolved configuration of the run
      runs.json                            each start/resume: data folders, --from-model,
                                           backend, versions, time
      history.json                         per-epoch loss, val CER/WER, learning rate, time
      problems.txt                         lines that were skipped, and why
      cache/                               preprocessed lines
      checkpoint/                          the last epoch: epoch-NNNN.weights.h5, its
                                           optimizer state epoch-NNNN.optimizer.npz, and
                                           state.json (counters; names the two)
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .artifacts import weights_bytes
from .charset import Charset
from .config import Config
from .document import Problem
from .errors import HandwritingError
from .fileio import (
    check_free_space,
    check_writable,
    os_reason,
    remove_stale_temps,
    write_atomic,
    write_json_atomic,
)

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """The counters a run resumes from. ``monitor`` names the score that chooses the best
    epoch: ``"val_cer"`` (percent) with val lines, else the training ``"loss"``."""

    epoch: int = 0
    monitor: str = "val_cer"
    best_score: float = float("inf")
    best_epoch: int = -1
    stale: int = 0  # epochs since the best one
    learning_rate: float = 0.0

    @property
    def found_best(self) -> bool:
        return self.best_score != float("inf")


@dataclass
class Checkpoint:
    """What :meth:`RunFolder.read_checkpoint` finds: the state, the charset the model was
    built with, and the files holding the weights and the optimizer's arrays."""

    state: RunState
    charset: Charset
    weights: Path
    optimizer: Path


def _check_state(state: RunState) -> None:
    """A TypeError or ValueError unless every counter has its type and a sane value."""
    for name in ("epoch", "best_epoch", "stale"):
        value = getattr(state, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise TypeError(f"{name} {value!r} is not a whole number")
    for name in ("best_score", "learning_rate"):
        value = getattr(state, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} {value!r} is not a number")
    if state.monitor not in ("val_cer", "loss"):
        raise ValueError(f"monitor {state.monitor!r} is neither val_cer nor loss")


def damaged(path: Path, reason) -> HandwritingError:
    """The error for a run file that cannot be read; ``reason``: its first line (or type)."""
    if isinstance(reason, BaseException):
        text = str(reason).strip()
        reason = text.splitlines()[0][:160] if text else type(reason).__name__
    return HandwritingError(
        f"{path}: damaged ({reason}); the run cannot be resumed from it: "
        "start a new run (or --from-model its best model)"
    )


class RunFolder:
    """One training run's folder (see the module docstring for its files)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoint_dir = self.path / "checkpoint"
        self.config_file = self.path / "config.json"
        self.history_file = self.path / "history.json"
        self.runs_file = self.path / "runs.json"
        self.problems_file = self.path / "problems.txt"
        self.cache_dir = self.path / "cache"
        self.state_file = self.checkpoint_dir / "state.json"

    # ------------------------------------------------------------ before any work
    def check_new(self) -> None:
        """Refuse a folder that already holds a run or a model, or is a file; check that it
        can be written (before any line is read)."""
        if self.state_file.is_file():
            raise HandwritingError(
                f"{self.path}: holds a training run already; pass --resume to continue it "
                "or choose another --out"
            )
        if (self.path / "handwriting.json").is_file():
            raise HandwritingError(
                f"{self.path}: is a model directory; training would replace it: choose "
                "another --out (to start from this model: --from-model)"
            )
        if self.path.exists() and not self.path.is_dir():
            raise HandwritingError(f"{self.path}: is a file; give a folder for the run")
        check_writable(self.path, is_dir=True)

    def check_resume(self) -> Config:
        """The run's own configuration, once the folder is known to hold a resumable run."""
        if not self.state_file.is_file():
            raise HandwritingError(
                f"{self.path}: nothing to resume (no checkpoint/state.json); "
                "start a new run without --resume"
            )
        if not self.config_file.is_file():
            raise HandwritingError(
                f"{self.path}: config.json is missing, and resuming needs the run's "
                "configuration: restore it, or start a new run in another --out "
                f"(--from-model {self.path} starts from its best model)"
            )
        try:
            config = Config.from_dict(self.read_json(self.config_file))
        except HandwritingError as exc:
            raise HandwritingError(f"{self.config_file}: {exc}") from None
        check_writable(self.path, is_dir=True)
        return config

    # ------------------------------------------------------------ the run's records
    def read_json(self, path: Path):
        """A JSON file of the run, or a clear error if it was damaged (e.g. a full disk)."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise damaged(path, exc) from None

    def write_config(self, config: Config) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.config_file, config.to_dict())

    def log_start(self, train_dirs, val_dirs, from_model, resume: bool, backend: str) -> dict:
        """Append this start (or resume) to ``runs.json``: what data and base model it read,
        with the versions that ran it; returns the entry. Temporary files that a killed
        earlier run left in the run's folders are removed first."""
        stale = sum(
            remove_stale_temps(d) for d in (self.path, self.checkpoint_dir, self.path.parent)
        )
        if stale:
            log.info("removed %d temporary file(s) left by an interrupted earlier run", stale)
        entries = self.read_json(self.runs_file) if self.runs_file.is_file() else []
        entry = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "resume": resume,
            "train": [str(d) for d in train_dirs or []],
            "val": [str(d) for d in val_dirs or []],
            "from_model": None if from_model is None else str(from_model),
            "backend": backend,
            "keras": _version("keras"),
            "tensorflow": _version("tensorflow"),
            "python": platform.python_version(),
            "argv": sys.argv[1:] if Path(sys.argv[0]).name == "handwriting" else None,
        }
        write_json_atomic(self.runs_file, entries + [entry])
        return entry

    def write_problems(self, problems: list[Problem]) -> None:
        text = "".join(f"{p.path}: {p.message}\n" for p in problems)
        write_atomic(self.problems_file, text.encode("utf-8"))

    def read_history(self, upto: int) -> list[dict]:
        """The epoch rows up to epoch ``upto`` (a row whose checkpoint was not committed is
        dropped)."""
        if not self.history_file.is_file():
            return []
        return [r for r in self.read_json(self.history_file) if r.get("epoch", 0) <= upto]

    # ------------------------------------------------------------ the checkpoint
    def read_checkpoint(self) -> Checkpoint:
        """The checkpoint's counters, charset and file names, or a clear error."""
        data = self.read_json(self.state_file)
        names = {f.name for f in fields(RunState)}
        try:
            charset = Charset.from_list(data["charset"])
            state = RunState(**{k: v for k, v in data.items() if k in names})
            weights, optimizer = data["weights"], data["optimizer"]
            _check_state(state)
            if not (isinstance(weights, str) and isinstance(optimizer, str)):
                raise TypeError("weights and optimizer must be file names")
        except (KeyError, TypeError, ValueError, HandwritingError) as exc:
            reason = f"no valid {exc}" if isinstance(exc, KeyError) else exc
            raise damaged(self.state_file, reason) from None
        ck = self.checkpoint_dir
        return Checkpoint(state, charset, ck / weights, ck / optimizer)

    def commit_checkpoint(
        self,
        model,
        arrays: dict[str, np.ndarray],
        state: RunState,
        charset: Charset,
        history: list[dict],
    ) -> None:
        """Save the model's weights and the optimizer's ``arrays`` under this epoch's names,
        then ``state.json``, which names them: the checkpoint changes as one unit when that
        file is replaced, so a run stopped part-way (a full disk, a kill) resumes from the
        last whole epoch. The history is written with it; earlier epochs' files go."""
        ck = self.checkpoint_dir
        tag = f"epoch-{state.epoch:04d}"
        files = {"weights": f"{tag}.weights.h5", "optimizer": f"{tag}.optimizer.npz"}
        tmp_w = ck / f".{tag}.tmp.weights.h5"
        tmp_o = ck / f".{tag}.optimizer.tmp.npz"
        ck.mkdir(parents=True, exist_ok=True)
        need = weights_bytes(model) + sum(a.nbytes for a in arrays.values()) + 2**20
        try:
            check_free_space(ck, need, f"the checkpoint of epoch {state.epoch}")
        except HandwritingError as exc:
            raise HandwritingError(f"{exc}; free some space, then --resume") from None
        try:
            model.save_weights(str(tmp_w))
            with open(tmp_o, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            with open(tmp_w, "rb") as f:  # on disk before state.json names it
                os.fsync(f.fileno())
            tmp_w.replace(ck / files["weights"])
            tmp_o.replace(ck / files["optimizer"])
        except OSError as exc:
            for tmp in (tmp_w, tmp_o):
                tmp.unlink(missing_ok=True)
            raise HandwritingError(
                f"{ck}: cannot save the checkpoint of epoch {state.epoch} "
                f"({os_reason(exc)}); free some space, then --resume "
                "(from the last saved epoch)"
            ) from None
        write_json_atomic(self.history_file, history)
        write_json_atomic(self.state_file, {**asdict(state), **files, "charset": charset.to_list()})
        for old in ck.iterdir():  # the files of earlier epochs
            if old.name.endswith((".weights.h5", ".npz")) and old.name not in files.values():
                old.unlink(missing_ok=True)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
