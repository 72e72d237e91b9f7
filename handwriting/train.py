"""Training: CTC with real label and logit lengths, val CER/WER each epoch, checkpoints,
resume, early stopping, learning-rate schedule, fine-tuning with charset extension.

A run directory holds::

    OUT/
      handwriting.json, model.weights.h5   the best model so far (a model directory)
      config.json                          the resolved configuration of the run
      runs.json                            each start/resume: data folders, --from-model,
                                           backend, versions, time
      history.json                         per-epoch loss, val CER/WER, learning rate, time
      problems.txt                         lines that were skipped, and why
      checkpoint/                          last epoch: epoch-NNNN.weights.h5, its optimizer
                                           state, and state.json (counters; names the two)
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from . import artifacts
from ._keras import keras
from .charset import Charset
from .config import Config
from .data import LineBatches, Sample, check_fit, prepare_lines
from .decode import Prediction, predict_lines
from .document import Problem
from .errors import DataError, HandwritingError
from .fileio import check_writable, write_atomic, write_json_atomic
from .groundtruth import no_lines_error, scan_line_dirs
from .metrics import cer, wer
from .model import SHORTCUT, build_model, logits_model, make_ctc_loss

log = logging.getLogger(__name__)


def predict_samples(
    model,
    samples: list[Sample],
    charset: Charset,
    downsample: int,
    batch_size: int = 16,
    beam: int = 0,
) -> list[Prediction]:
    """Batched prediction of preprocessed samples with an in-memory Keras model."""
    lines = [s.line.astype(np.float32) / 255.0 for s in samples]
    return predict_lines(
        lambda x: keras.ops.convert_to_numpy(model.predict_on_batch(x)),
        lines,
        charset,
        downsample,
        batch_size,
        beam,
    )


def _write_problems(path: Path, problems: list[Problem]) -> None:
    write_atomic(path, "".join(f"{p.path}: {p.message}\n" for p in problems).encode("utf-8"))


@dataclass
class _State:
    epoch: int = 0
    best_cer: float = float("inf")
    best_epoch: int = -1
    stale: int = 0
    learning_rate: float = 0.0


class _EpochEnd(keras.callbacks.Callback):
    """Validation, best-model export, checkpoint, LR schedule and early stopping."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.time()
        if self.run.batches.epoch != epoch:
            self.run.batches.set_epoch(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.run.end_epoch(epoch, dict(logs or {}), time.time() - self.t0)
        if self.run.stop:
            self.model.stop_training = True


class TrainingRun:
    def __init__(
        self,
        out,
        config: Config,
        train_samples,
        val_samples,
        charset,
        model,
        history,
        state: _State,
        optimizer,
        progress: bool,
    ):
        self.out = Path(out)
        self.config = config
        self.train_samples, self.val_samples = train_samples, val_samples
        self.charset, self.model, self.history, self.state = charset, model, history, state
        self.optimizer = optimizer
        self.progress = progress
        self.max_seconds = 0.0
        self.started = time.time()
        self.stop = False
        self.data: dict = {}
        self.trainer = None

    def evaluate(self) -> dict:
        samples = self.val_samples
        limit = self.config.train.val_limit
        if limit and len(samples) > limit:
            samples = [samples[i] for i in np.linspace(0, len(samples) - 1, limit).astype(int)]
        preds = predict_samples(
            self.model,
            samples,
            self.charset,
            self.config.model.downsample,
            self.config.train.batch_size,
        )
        refs, hyps = [s.text for s in samples], [p.text for p in preds]
        return {"val_cer": cer(refs, hyps), "val_wer": wer(refs, hyps), "val_lines": len(samples)}

    def end_epoch(self, epoch: int, logs: dict, seconds: float) -> None:
        t = self.config.train
        metrics = self.evaluate() if self.val_samples else {}
        lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        row = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", float("nan"))),
            **metrics,
            "learning_rate": lr,
            "seconds": round(seconds, 1),
            "lines_per_second": round(len(self.train_samples) / max(seconds, 1e-9), 2),
        }
        self.history.append(row)
        st = self.state
        st.epoch = epoch + 1
        score = metrics.get("val_cer", row["loss"])
        if score < st.best_cer - 1e-6:
            st.best_cer, st.best_epoch, st.stale = score, epoch + 1, 0
            self.save_best(metrics)
        else:
            st.stale += 1
            if t.lr_patience and st.stale % t.lr_patience == 0:
                lr = max(lr * 0.5, 1e-6)
                self.optimizer.learning_rate.assign(lr)
                log.info("no improvement for %d epochs: learning rate -> %.2e", st.stale, lr)
            if t.early_stopping and st.stale >= t.early_stopping:
                log.info("early stopping: no val CER improvement for %d epochs", st.stale)
                self.stop = True
        st.learning_rate = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.checkpoint()
        msg = f"epoch {epoch + 1}: loss {row['loss']:.3f}"
        if metrics:
            msg += f", val CER {metrics['val_cer']:.2f} %, WER {metrics['val_wer']:.2f} %"
        msg += f" ({seconds:.0f} s, {row['lines_per_second']} lines/s)"
        # the Keras progress bar has not ended its line yet when callbacks run
        log.info(("\n" if self.progress else "") + msg)
        if self.max_seconds and time.time() - self.started + seconds * 1.2 > self.max_seconds:
            log.info(
                "time budget of %.0f s reached: stopping (resume with --resume)", self.max_seconds
            )
            self.stop = True

    def summary(self) -> dict:
        return {
            "epochs": self.state.epoch,
            "best_epoch": self.state.best_epoch,
            "train_lines": len(self.train_samples),
            "val_lines": len(self.val_samples),
            "seconds": round(sum(r["seconds"] for r in self.history), 1),
            "backend": keras.backend.backend(),
            "data": self.data,
            "config": self.config.to_dict(),
        }

    def save_best(self, metrics: dict) -> None:
        artifacts.save(
            self.out,
            self.model,
            self.charset,
            self.config.preprocess,
            self.config.model,
            training=self.summary(),
            metrics=metrics,
        )

    def shortcut_weights(self) -> list:
        """The weights of the training-only shortcut head (none without one)."""
        names = {layer.name for layer in self.trainer.layers} if self.trainer else set()
        return self.trainer.get_layer(SHORTCUT).get_weights() if SHORTCUT in names else []

    def checkpoint(self) -> None:
        """Save weights and optimizer state under this epoch's names, then ``state.json``,
        which names them: the checkpoint changes as one unit when that file is replaced, so a
        run stopped part-way (a full disk, a kill) resumes from the last whole epoch."""
        ck = self.out / "checkpoint"
        tag = f"epoch-{self.state.epoch:04d}"
        files = {"weights": f"{tag}.weights.h5", "optimizer": f"{tag}.optimizer.npz"}
        tmp_w = ck / f".{tag}.tmp.weights.h5"
        tmp_o = ck / f".{tag}.optimizer.tmp.npz"
        try:
            ck.mkdir(parents=True, exist_ok=True)
            self.model.save_weights(str(tmp_w))
            opt = {
                f"v{i}": keras.ops.convert_to_numpy(v)
                for i, v in enumerate(self.optimizer.variables)
            }
            # a training-only head (model.shortcut) is not in the model's weights file
            opt.update({f"{SHORTCUT}{i}": w for i, w in enumerate(self.shortcut_weights())})
            with open(tmp_o, "wb") as f:
                np.savez(f, **opt)
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
                f"{ck}: cannot save the checkpoint of epoch {self.state.epoch} "
                f"({exc.strerror or exc}); free some space, then --resume "
                "(from the last saved epoch)"
            ) from None
        write_json_atomic(self.out / "history.json", self.history)  # (trimmed on resume)
        write_json_atomic(
            ck / "state.json", {**self.state.__dict__, **files, "charset": self.charset.to_list()}
        )
        for old in ck.iterdir():  # the files of earlier epochs (and of older versions)
            if old.name.endswith((".weights.h5", ".npz")) and old.name not in files.values():
                old.unlink(missing_ok=True)


def _log_invocation(out: Path, train_dirs, val_dirs, from_model, resume: bool) -> dict:
    """Append this start (or resume) to ``OUT/runs.json``: what data and base model it read.

    ``config.json`` stays the loadable configuration; this log is the provenance next to it.
    """
    path = out / "runs.json"
    entries = _read_run_json(path) if path.is_file() else []
    entry = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "resume": resume,
        "train": [str(d) for d in train_dirs or []],
        "val": [str(d) for d in val_dirs or []],
        "from_model": None if from_model is None else str(from_model),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow": version("tensorflow"),
        "python": platform.python_version(),
        "argv": sys.argv[1:] if Path(sys.argv[0]).name == "handwriting" else None,
    }
    write_json_atomic(path, entries + [entry])
    return entry


def _read_run_json(path: Path):
    """A JSON file of the run, or a clear error if it was damaged (e.g. a full disk)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, exc) from None


def _damaged(path: Path, reason) -> HandwritingError:
    """The error for a run file that cannot be read; ``reason``: its first line (or type)."""
    if isinstance(reason, BaseException):
        text = str(reason).strip()
        reason = text.splitlines()[0][:160] if text else type(reason).__name__
    return HandwritingError(
        f"{path}: damaged ({reason}); the run cannot be resumed from it: "
        "start a new run (or --from-model its best model)"
    )


def _read_state(ck: Path) -> tuple[_State, Charset, dict]:
    """The checkpoint's counters, charset and file names (runs of older versions: fixed names)."""
    path = ck / "state.json"
    data = _read_run_json(path)
    fields = set(_State.__dataclass_fields__)
    try:
        charset = Charset.from_list(data["charset"])
        state = _State(**{k: v for k, v in data.items() if k in fields})
    except (KeyError, TypeError, ValueError, HandwritingError) as exc:
        raise _damaged(path, f"no valid {exc}" if isinstance(exc, KeyError) else exc) from None
    return (
        state,
        charset,
        {
            "weights": data.get("weights", "model.weights.h5"),
            "optimizer": data.get("optimizer", "optimizer.npz"),
        },
    )


def _restore(ck: Path, files: dict, model, trainer) -> None:
    """Load the checkpoint's weights and optimizer state, or say which file is damaged."""
    weights, opt = ck / files["weights"], ck / files["optimizer"]
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # noqa: BLE001 - h5py / Keras: missing, truncated, wrong shapes
        raise _damaged(weights, exc) from None
    trainer.optimizer.build(trainer.trainable_variables)
    try:
        with np.load(opt) as saved:
            for i, v in enumerate(trainer.optimizer.variables):
                v.assign(saved[f"v{i}"])
            if SHORTCUT in {layer.name for layer in trainer.layers}:
                head = trainer.get_layer(SHORTCUT)
                head.set_weights([saved[f"{SHORTCUT}{i}"] for i in range(len(head.weights))])
    except Exception as exc:  # noqa: BLE001 - zipfile / numpy / shape errors
        raise _damaged(opt, exc) from None


def _load_samples(dirs, config: Config, out: Path, desc: str, progress: bool, max_lines: int = 0):
    records, problems = scan_line_dirs(dirs)
    if max_lines and len(records) > max_lines:
        records = [records[i] for i in np.linspace(0, len(records) - 1, max_lines).astype(int)]
    if not records:
        raise no_lines_error(dirs)
    samples, bad = prepare_lines(
        records, config.preprocess, cache_dir=out / "cache", desc=desc, progress=progress
    )
    return samples, problems + bad


def train(
    train_dirs,
    val_dirs,
    out,
    config: Config | None = None,
    epochs: int | None = None,
    resume: bool = False,
    from_model=None,
    progress: bool = True,
    samples: tuple[list[Sample], list[Sample]] | None = None,
    workers: int | None = None,
    max_seconds: float = 0,
    max_lines: int = 0,
) -> dict:
    """Train a recognizer; returns the training summary (also stored in the model directory).

    Args:
        train_dirs / val_dirs: ground-truth folders (line pairs and/or ALTO/PAGE XML).
        out: the run directory; the best model is saved there as a model directory.
        config: the configuration (default: :class:`Config()`); ignored on ``resume``, where the
            run's own ``config.json`` is used.
        epochs: overrides ``config.train.epochs`` (total epochs, also when resuming).
        resume: continue from ``out/checkpoint``.
        from_model: a model directory (or ``"default"``) to fine-tune; its charset is extended with new characters.
        samples: already preprocessed (train, val) samples; then the dirs are not read.
        workers: threads preparing (augmenting) batches (default: the CPU count, at most 8).
        max_seconds: wall-clock budget (0: none): stop at the end of an epoch when the next
            one (estimated at 1.2 times the last) would end after it.
        max_lines: use at most this many lines of each set, evenly spread (0: all); for quick runs.

    Progress (with ``progress``: Keras' bar and one line per epoch with the loss and val CER)
    goes through :mod:`logging` (logger ``handwriting.train``); when logging is not configured,
    the per-epoch lines go to stderr for the length of the run.
    """
    with _epoch_lines_shown(progress):
        return _train(
            train_dirs,
            val_dirs,
            out,
            config,
            epochs,
            resume,
            from_model,
            progress,
            samples,
            workers,
            max_seconds,
            max_lines,
        )


class _epoch_lines_shown:
    """Show this package's INFO log lines on stderr while training, unless the caller has
    configured logging (a handler on ``handwriting`` or above it)."""

    def __init__(self, progress: bool):
        self.progress = progress
        self.handler = None

    def __enter__(self):
        logger = logging.getLogger("handwriting")
        if self.progress and not logger.hasHandlers():
            self.handler = logging.StreamHandler(sys.stderr)
            self.handler.setFormatter(logging.Formatter("%(message)s"))
            self.level = logger.level
            logger.addHandler(self.handler)
            logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        if self.handler is not None:
            logger = logging.getLogger("handwriting")
            logger.removeHandler(self.handler)
            logger.setLevel(self.level)


def _train(
    train_dirs,
    val_dirs,
    out,
    config,
    epochs,
    resume,
    from_model,
    progress,
    samples,
    workers,
    max_seconds,
    max_lines,
) -> dict:
    out = Path(out)
    ck = out / "checkpoint"
    if resume:
        if not (ck / "state.json").is_file():
            raise HandwritingError(
                f"{out}: nothing to resume (no checkpoint/state.json); "
                "start a new run without --resume"
            )
        if not (out / "config.json").is_file():
            raise HandwritingError(
                f"{out}: config.json is missing, and resuming needs the run's "
                "configuration: restore it, or start a new run in another --out "
                f"(--from-model {out} starts from its best model)"
            )
        saved_config = _read_run_json(out / "config.json")
        try:
            config = Config.from_dict(saved_config)
        except HandwritingError as exc:
            raise HandwritingError(f"{out / 'config.json'}: {exc}") from None
        state, charset, saved = _read_state(ck)  # damaged: said before any work
    elif (ck / "state.json").is_file():
        raise HandwritingError(
            f"{out}: holds a training run already; pass --resume to continue it "
            "or choose another --out"
        )
    elif (out / "handwriting.json").is_file():
        raise HandwritingError(
            f"{out}: is a model directory; training would replace it: choose "
            "another --out (to start from this model: --from-model)"
        )
    elif out.exists() and not out.is_dir():
        raise HandwritingError(f"{out}: is a file; give a folder for the run")
    check_writable(out, is_dir=True)  # before the lines are read, not after
    if samples is None:
        for d in [*(train_dirs or []), *(val_dirs or [])]:
            if not Path(d).exists():
                raise HandwritingError(f"{d}: ground-truth folder not found")
    config = config or Config()
    base = None
    if from_model is not None and not resume:
        base = artifacts.load(from_model)
        config = Config(preprocess=base.preprocess, model=base.model_config, train=config.train)
    if epochs is not None:
        config = config.replace(train=config.train.replace(epochs=epochs))
    t = config.train
    keras.utils.set_random_seed(t.seed)
    if samples is not None:
        (train_samples, val_samples), problems, val_problems = samples, [], []
    else:
        train_samples, problems = _load_samples(
            train_dirs, config, out, "preprocessing train", progress, max_lines
        )
        val_samples, val_problems = (
            _load_samples(val_dirs, config, out, "preprocessing val", progress, max_lines)
            if val_dirs
            else ([], [])
        )
    # written once there are lines (folders without any leave no run behind)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", config.to_dict())
    invocation = _log_invocation(out, train_dirs, val_dirs, from_model, resume)
    texts = [s.text for s in train_samples]
    if not resume:
        charset = base.charset.extend(texts) if base else Charset.from_texts(texts)
        state = _State()
    train_samples, unfit = check_fit(train_samples, charset, config.model.downsample)
    problems += unfit
    for s in val_samples:
        if charset.unknown(s.text):
            val_problems.append(
                Problem(
                    Path(s.path),
                    "val label has characters the model cannot "
                    f"output: {''.join(charset.unknown(s.text))!r} (counted as errors)",
                )
            )
    _write_problems(out / "problems.txt", problems + val_problems)
    for kind, found in (("skipped", problems), ("val line", val_problems)):
        for p in found[:20]:
            log.warning("%s %s: %s", kind, p.path, p.message)
        if len(found) > 20:
            log.warning("... %d more, see %s", len(found) - 20, out / "problems.txt")
    if not train_samples:
        raise DataError("no usable training lines; see " + str(out / "problems.txt"))

    model = build_model(config.model, charset.n_classes, config.preprocess.height)
    if base is not None:
        _transfer(base.model, model)
    shortcut = config.model.shortcut
    trainer = logits_model(model, shortcut=bool(shortcut))
    trainer.compile(
        optimizer=keras.optimizers.Adam(t.learning_rate, clipnorm=5.0), loss=make_ctc_loss(shortcut)
    )
    history: list[dict] = []
    if resume:
        _restore(ck, saved, model, trainer)
        trainer.optimizer.learning_rate.assign(state.learning_rate)
        if (out / "history.json").is_file():  # without rows of an epoch whose checkpoint
            history = [
                r
                for r in _read_run_json(out / "history.json")  # was not committed
                if r.get("epoch", 0) <= state.epoch
            ]
        best = (
            f"val CER {state.best_cer:.2f} %"
            if val_samples
            else f"training loss {state.best_cer:.3f}"
        )
        log.info("resuming at epoch %d (best %s at epoch %d)", state.epoch, best, state.best_epoch)
    batches = LineBatches(
        train_samples,
        charset,
        t.batch_size,
        config.model.downsample,
        t.bucket_width,
        augment=t.augment,
        seed=t.seed,
        shuffle=True,
        augment_p=t.augment_probability,
        workers=workers or min(8, os.cpu_count() or 1),
        use_multiprocessing=False,
    )
    batches.set_epoch(state.epoch)
    run = TrainingRun(
        out,
        config,
        train_samples,
        val_samples,
        charset,
        model,
        history,
        state,
        trainer.optimizer,
        progress,
    )
    run.batches = batches
    run.trainer = trainer
    run.data = {k: invocation[k] for k in ("train", "val", "from_model")}
    run.max_seconds = max_seconds
    feed = batches.tf_dataset() if keras.backend.backend() == "tensorflow" else batches
    if state.epoch < t.epochs and not (t.early_stopping and state.stale >= t.early_stopping):
        trainer.fit(
            feed,
            epochs=t.epochs,
            initial_epoch=state.epoch,
            callbacks=[_EpochEnd(run)],
            shuffle=False,
            verbose=1 if progress else 0,
        )
    summary = run.summary()
    # without val lines the best epoch is the one with the lowest training loss, not a CER
    found = state.best_cer != float("inf")
    summary["best_val_cer"] = state.best_cer if found and val_samples else None
    summary["best_loss"] = state.best_cer if found and not val_samples else None
    return summary


def _transfer(src, dst) -> None:
    """Copy weights layer by layer; the classifier keeps the rows of the known characters."""
    for layer in dst.layers:
        if not layer.weights:
            continue
        old = src.get_layer(layer.name).get_weights()
        new = layer.get_weights()
        if layer.name == "logits" and old[0].shape != new[0].shape:
            k = old[0].shape[1]
            new[0][:, :k], new[1][:k] = old[0], old[1]
            layer.set_weights(new)
        else:
            layer.set_weights(old)
