"""Training: CTC with real label and logit lengths, val CER/WER each epoch, checkpoints,
resume, early stopping, learning-rate schedule, fine-tuning with charset extension. The run's
files are :class:`~handwriting.run_folder.RunFolder`'s.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifacts
from ._keras import keras, tensorflow
from .charset import Charset
from .config import Config
from .data import LineBatches, Sample, check_fit, prepare_lines
from .decode import Prediction, predict_lines
from .document import Problem
from .errors import DataError, HandwritingError
from .groundtruth import no_lines_error, scan_line_dirs
from .line_pack import read_pack
from .metrics import cer, wer
from .model import SHORTCUT, build_model, logits_model, make_ctc_loss
from .run_folder import RunFolder, RunState, damaged

log = logging.getLogger(__name__)

FRONT_END = ("conv", "bn")  # the layers train.freeze = "frontend" keeps


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


def score_samples(
    model, samples: list[Sample], charset: Charset, downsample: int, batch_size: int = 16
) -> dict:
    """Greedy CER and WER (percent) of an in-memory Keras model on preprocessed samples."""
    preds = predict_samples(model, samples, charset, downsample, batch_size)
    refs, hyps = [s.text for s in samples], [p.text for p in preds]
    return {"cer": cer(refs, hyps), "wer": wer(refs, hyps)}


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


@dataclass
class TrainingRun:
    """A run in progress: what each epoch's end needs (validate, keep the best model,
    checkpoint, adjust the learning rate, stop)."""

    folder: RunFolder
    config: Config
    train_samples: list[Sample]
    val_samples: list[Sample]
    charset: Charset
    model: object  # keras.Model: the inference model
    trainer: object  # keras.Model: the model with its CTC heads, compiled
    batches: LineBatches
    history: list[dict]
    state: RunState
    data: dict  # the data folders and base model, for the model's training summary
    progress: bool = True
    max_seconds: float = 0.0

    def __post_init__(self):
        self.started = time.time()
        self.stop = False
        self.optimizer = self.trainer.optimizer

    def evaluate(self) -> dict:
        """Val CER and WER (percent) over ``train.val_limit`` evenly spread val lines."""
        samples = self.val_samples
        limit = self.config.train.val_limit
        if limit and len(samples) > limit:
            samples = [samples[i] for i in np.linspace(0, len(samples) - 1, limit).astype(int)]
        scores = score_samples(
            self.model,
            samples,
            self.charset,
            self.config.model.downsample,
            self.config.train.batch_size,
        )
        return {"val_cer": scores["cer"], "val_wer": scores["wer"], "val_lines": len(samples)}

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
        if not math.isfinite(row["loss"]):  # diverged: keep the last good checkpoint and model
            raise HandwritingError(
                f"epoch {epoch + 1}: the training loss is {row['loss']}: training diverged, "
                "nothing of this epoch was saved; lower train.learning_rate, then --resume "
                "(or start again)"
            )
        self.history.append(row)
        st = self.state
        st.epoch = epoch + 1
        score = row[st.monitor]
        if score < st.best_score - 1e-6:
            st.best_score, st.best_epoch, st.stale = score, epoch + 1, 0
            self.save_best(metrics)
        else:
            st.stale += 1
            if t.lr_patience and st.stale % t.lr_patience == 0:
                lr = max(lr * 0.5, 1e-6)
                self.optimizer.learning_rate.assign(lr)
                log.info("no improvement for %d epochs: learning rate -> %.2e", st.stale, lr)
            if t.early_stopping and st.stale >= t.early_stopping:
                log.info("early stopping: no %s improvement for %d epochs", st.monitor, st.stale)
                self.stop = True
        st.learning_rate = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.folder.commit_checkpoint(
            self.model, self.optimizer_arrays(), st, self.charset, self.history
        )
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

    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        """What the model's weights file does not hold: the optimizer's variables (``v0``,
        ``v1``, ...), the weights of the training-only shortcut head (``shortcut0``, ...) and
        the random layers' states (``rng0``, ...)."""
        arrays = {
            f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(self.optimizer.variables)
        }
        names = {layer.name for layer in self.trainer.layers}
        head = self.trainer.get_layer(SHORTCUT).get_weights() if SHORTCUT in names else []
        arrays.update({f"{SHORTCUT}{i}": w for i, w in enumerate(head)})
        arrays.update(
            {f"rng{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(self.random_states())}
        )
        return arrays

    def random_states(self) -> list:
        """The state variables of the network's random layers (dropout): checkpointed, so
        that a resumed run draws the same masks as one that was never stopped."""
        return [
            v
            for v in self.trainer.non_trainable_variables
            if v.path.endswith("seed_generator_state")
        ]

    def restore(self, checkpoint) -> None:
        """Load the checkpoint's weights and optimizer state, or say which file is damaged."""
        try:
            self.model.load_weights(str(checkpoint.weights))
        except Exception as exc:  # noqa: BLE001 - h5py / Keras: missing, truncated, wrong shapes
            raise damaged(checkpoint.weights, exc) from None
        self.optimizer.build(self.trainer.trainable_variables)
        try:
            with np.load(checkpoint.optimizer) as saved:
                for i, v in enumerate(self.optimizer.variables):
                    v.assign(saved[f"v{i}"])
                if SHORTCUT in {layer.name for layer in self.trainer.layers}:
                    head = self.trainer.get_layer(SHORTCUT)
                    head.set_weights([saved[f"{SHORTCUT}{i}"] for i in range(len(head.weights))])
                states = self.random_states()
                if states and "rng0" not in saved:
                    log.warning(
                        "%s holds no dropout random state: the resumed run draws other "
                        "dropout masks than an uninterrupted one would",
                        checkpoint.optimizer,
                    )
                elif states:
                    for i, v in enumerate(states):
                        v.assign(saved[f"rng{i}"])
        except Exception as exc:  # noqa: BLE001 - zipfile / numpy / shape errors
            raise damaged(checkpoint.optimizer, exc) from None
        self.optimizer.learning_rate.assign(self.state.learning_rate)

    def summary(self) -> dict:
        """The run so far: epochs, best epoch, what it monitors, data and configuration."""
        st = self.state
        return {
            "epochs": st.epoch,
            "best_epoch": st.best_epoch,
            "monitor": st.monitor,
            "train_lines": len(self.train_samples),
            "val_lines": len(self.val_samples),
            "seconds": round(sum(r["seconds"] for r in self.history), 1),
            "backend": keras.backend.backend(),
            "data": self.data,
            "config": self.config.to_dict(),
        }

    def save_best(self, metrics: dict) -> None:
        """Save the model in the run folder as its best so far; when it cannot be written
        (a full disk), the best model saved before stays whole and the error says to resume."""
        try:
            artifacts.save(
                self.folder.path,
                self.model,
                self.charset,
                self.config.preprocess,
                self.config.model,
                training=self.summary(),
                metrics=metrics,
            )
        except HandwritingError as exc:
            raise HandwritingError(
                f"{exc}; the run's best model so far is unchanged: free some space, then "
                f"--resume (it continues after epoch {self.state.epoch - 1})"
            ) from None


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
    max_seconds: float = 0,
    max_lines: int = 0,
    packed: str | Path | None = None,
    strategy: str | None = None,
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
        max_seconds: wall-clock budget (0: none): stop at the end of an epoch when the next
            one (estimated at 1.2 times the last) would end after it.
        max_lines: use at most this many lines of each set, evenly spread (0: all); for quick runs.
        packed: a line pack (:mod:`handwriting.line_pack`) to train on instead of the dirs;
            its lines are preprocessed with the run's configuration.
        strategy: ``"mirrored"`` (the local GPUs of this process) or ``"multi-worker"``
            (``MultiWorkerMirroredStrategy``: one process per worker, described by
            ``$TF_CONFIG``), TensorFlow backend. ``train.batch_size`` stays the global batch,
            split across the replicas, and the learning rate is not scaled, so a run trains
            as a single-process one does. Only the chief writes ``out``; the other workers
            write into a temporary copy, removed at the end. The model and checkpoints are
            those of a single-process run, which may resume them.

    Progress (with ``progress``: Keras' bar and one line per epoch with the loss and val CER)
    goes through :mod:`logging` (logger ``handwriting.train``); when logging is not configured,
    the per-epoch lines go to stderr for the length of the run.
    """
    given = dict(locals())
    if strategy is None:
        with _epoch_lines_shown(progress):
            return _train(**given)
    if max_seconds and strategy == "multi-worker":
        raise HandwritingError(
            "--max-minutes with --strategy multi-worker: each worker would judge the time "
            "left by its own clock and stop at another epoch; give --epochs instead"
        )
    dist, chief = distribution(strategy)
    if chief:
        with _epoch_lines_shown(progress):
            return _train(**{**given, "strategy": dist})
    # a worker that is not the chief trains in a copy of the run folder, thrown away after
    with tempfile.TemporaryDirectory(prefix="handwriting-worker-") as tmp:
        copy = Path(tmp) / "run"
        if resume and Path(out).is_dir():
            shutil.copytree(out, copy)
        summary = _train(**{**given, "out": copy, "progress": False, "strategy": dist})
    return {**summary, "chief": False}


STRATEGIES = ("mirrored", "multi-worker")


def distribution(name: str):
    """The ``tf.distribute`` strategy ``name`` (:data:`STRATEGIES`) and whether this process
    is its chief (the one that writes the run). Raises :class:`HandwritingError` off the
    TensorFlow backend, or for ``multi-worker`` without ``$TF_CONFIG``."""
    import json
    import os

    if name not in STRATEGIES:
        raise HandwritingError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if keras.backend.backend() != "tensorflow":
        raise HandwritingError(
            f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND=tensorflow), "
            f"not {keras.backend.backend()}"
        )
    from ._keras import tensorflow

    tf = tensorflow()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    raw = os.environ.get("TF_CONFIG")
    try:
        spec = json.loads(raw) if raw else None
        task = spec["task"]
        cluster = spec["cluster"]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise HandwritingError(
            "--strategy multi-worker reads the cluster from $TF_CONFIG: "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
            '"index": 0}} on each worker (index 0, or a "chief" task, writes the run)'
        ) from None
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(), chief
    except RuntimeError as exc:  # TensorFlow already ran something in this process
        raise HandwritingError(
            f"--strategy multi-worker must be set up before TensorFlow runs anything ({exc}): "
            "train in a fresh process"
        ) from None


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
    *,
    train_dirs,
    val_dirs,
    out,
    config,
    epochs,
    resume,
    from_model,
    progress,
    samples,
    max_seconds,
    max_lines,
    packed,
    strategy=None,
) -> dict:
    folder = RunFolder(out)
    # 1. the configuration and where the run starts from, every problem said before any work
    checkpoint, base = None, None
    if resume:
        config = folder.check_resume()
        checkpoint = folder.read_checkpoint()
    else:
        folder.check_new()
    if samples is None and packed is None:
        for d in [*(train_dirs or []), *(val_dirs or [])]:
            if not Path(d).exists():
                raise HandwritingError(f"{d}: ground-truth folder not found")
    config = config or Config()
    if from_model is not None and not resume:
        base = artifacts.load(from_model)
        config = Config(preprocess=base.preprocess, model=base.model_config, train=config.train)
    if epochs is not None:
        config = config.replace(train=config.train.replace(epochs=epochs))
    keras.utils.set_random_seed(config.train.seed)

    # 2. the lines, and the charset they are read with
    train_samples, val_samples, problems, val_problems = _read_lines(
        train_dirs, val_dirs, samples, config, folder.path, progress, max_lines, packed
    )
    folder.write_config(config)  # once there are lines: folders without any leave no run
    started = folder.log_start(train_dirs, val_dirs, from_model, resume, keras.backend.backend())
    texts = [s.text for s in train_samples]
    if checkpoint is not None:
        charset, state = checkpoint.charset, checkpoint.state
    else:
        charset = base.charset.extend(texts) if base else Charset.from_texts(texts)
        state = RunState(monitor="val_cer" if val_samples else "loss")
    train_samples = _usable(
        train_samples, val_samples, charset, config, folder, problems, val_problems
    )

    # 3. the network, fresh, fine-tuned from the base model, or restored (its variables
    # mirrored across the replicas of a distribution strategy)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config.model, charset.n_classes, config.preprocess.height)
        if base is not None:
            _transfer(base.model, model)
        if config.train.freeze == "frontend":
            for layer in model.layers:
                if layer.name.startswith(FRONT_END):
                    layer.trainable = False
        shortcut = config.model.shortcut
        trainer = logits_model(model, shortcut=bool(shortcut))
        trainer.compile(
            optimizer=keras.optimizers.Adam(config.train.learning_rate, clipnorm=5.0),
            loss=make_ctc_loss(shortcut),
        )
    t = config.train
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
        # one worker: Keras' threaded enqueuer does not hand an epoch its batches in order
        # (a resumed JAX run drifted from an uninterrupted one); a batch takes milliseconds to
        # prepare against seconds to train. The TensorFlow backend's tf.data pipeline
        # prepares batches in parallel, in order.
        workers=1,
        use_multiprocessing=False,
    )
    run = TrainingRun(
        folder,
        config,
        train_samples,
        val_samples,
        charset,
        model,
        trainer,
        batches,
        history=folder.read_history(state.epoch) if checkpoint else [],
        state=state,
        data={k: started[k] for k in ("train", "val", "from_model")},
        progress=progress,
        max_seconds=max_seconds,
    )
    if checkpoint is not None:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            run.restore(checkpoint)
        best = f"{state.monitor} {state.best_score:.3f}"
        log.info("resuming at epoch %d (best %s at epoch %d)", state.epoch, best, state.best_epoch)

    # 4. the epochs
    batches.set_epoch(state.epoch)
    feed = batches.tf_dataset() if keras.backend.backend() == "tensorflow" else batches
    if state.epoch < t.epochs and not (t.early_stopping and state.stale >= t.early_stopping):
        if strategy is not None:
            _prepare_distributed(trainer, strategy, batches)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            trainer.fit(
                feed,
                epochs=t.epochs,
                initial_epoch=state.epoch,
                callbacks=[_EpochEnd(run)],
                shuffle=False,
                verbose=1 if progress else 0,
            )
    summary = run.summary()
    summary["best_val_cer"] = state.best_score if state.found_best and val_samples else None
    summary["best_loss"] = state.best_score if state.found_best and not val_samples else None
    return summary


def _prepare_distributed(trainer, strategy, batches) -> None:
    """Build the trainer's optimizer, loss and metrics in ``strategy``'s scope from one local
    batch, and let ``fit`` take the strategy from the scope it runs in. Keras (3.13-3.15) would
    otherwise average the first distributed batch across the workers to build them, which
    MultiWorkerMirroredStrategy refuses for an (inputs, labels) pair, and batches of lines
    differ in width from worker to worker."""
    with strategy.scope():
        x, y = batches[0]
        trainer.optimizer.build(trainer.trainable_variables)
        trainer._symbolic_build(data_batch=(x, y))
    trainer._distribute_strategy = None
    _mean_scalars_across_workers()


def _mean_scalars_across_workers() -> None:
    """Let Keras' TensorFlow trainer average a step's scalar loss across the workers of a
    MultiWorkerMirroredStrategy: it reduces every output along axis 0, which a scalar does
    not have (tensorflow#72388, Keras 3.13-3.15); a scalar is averaged whole."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not hasattr(tf_trainer, "reduce_per_replica"):
        raise HandwritingError(
            f"--strategy multi-worker was tested with Keras 3.13-3.15; Keras {keras.__version__} "
            "lacks what it adjusts (keras.src.backend.tensorflow.trainer.reduce_per_replica)"
        )
    if getattr(tf_trainer.reduce_per_replica, "_handwriting", False):
        return
    original = tf_trainer.reduce_per_replica
    tf = tensorflow()

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):

            def mean(v):
                local = (
                    strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                )
                if tf.is_tensor(local) and local.shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return keras.tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica._handwriting = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def _read_lines(train_dirs, val_dirs, samples, config, out, progress, max_lines, packed):
    """The preprocessed train and val lines (``samples`` if given, else the line pack
    ``packed`` if given, else the dirs' lines), and the problems of the files left out."""
    if samples is not None:
        return samples[0], samples[1], [], []
    if packed is not None:
        train_samples, val_samples = read_pack(packed, config.preprocess, max_lines, progress)
        return train_samples, val_samples, [], []
    train_samples, problems = _load_samples(
        train_dirs, config, out, "preprocessing train", progress, max_lines
    )
    val_samples, val_problems = (
        _load_samples(val_dirs, config, out, "preprocessing val", progress, max_lines)
        if val_dirs
        else ([], [])
    )
    return train_samples, val_samples, problems, val_problems


def _usable(train_samples, val_samples, charset, config, folder, problems, val_problems):
    """The training lines the model can learn (their labels fit its frames); every line
    left out, and every val label the model cannot spell, is logged and listed in
    ``problems.txt``."""
    train_samples, unfit = check_fit(train_samples, charset, config.model.downsample)
    problems = problems + unfit
    for s in val_samples:
        if charset.unknown(s.text):
            val_problems.append(
                Problem(
                    Path(s.path),
                    "val label has characters the model cannot "
                    f"output: {''.join(charset.unknown(s.text))!r} (counted as errors)",
                )
            )
    folder.write_problems(problems + val_problems)
    for kind, found in (("skipped", problems), ("val line", val_problems)):
        for p in found[:20]:
            log.warning("%s %s: %s", kind, p.path, p.message)
        if len(found) > 20:
            log.warning("... %d more, see %s", len(found) - 20, folder.problems_file)
    if not train_samples:
        raise DataError(f"no usable training lines; see {folder.problems_file}")
    return train_samples


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
