"""Adaptation: fine-tune a model on a user's own lines (20 to a few thousand), with a
held-out slice split off by page, settings chosen from the data size, a time budget, and
the held-out CER before and after written into the new model directory.

``adapt()`` is what ``handwriting adapt`` runs; the steps are plain functions so that a
notebook can show them: :func:`group_of`, :func:`split_held_out`, :func:`settings_for`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifacts
from .config import Config, TrainConfig
from .data import Sample, prepare_lines
from .errors import ArtifactError, DataError
from .fileio import write_atomic, write_json_atomic
from .groundtruth import LineRecord, no_lines_error, scan_line_dirs
from .run_folder import RunFolder
from .train import score_samples, train

log = logging.getLogger(__name__)

MIN_LINES = 20  # fewer lines cannot both teach and measure anything
FEW_LINES = 50  # below this the held-out figures are rough: said so
_LINE_NUMBER = re.compile(r"[_\-. ]?\d+$")


def group_of(record: LineRecord) -> str:
    """The page or document a line belongs to: its ALTO/PAGE file, or for a line image its
    folder and file name without the trailing line number (``letter12_007.png`` and
    ``letter12_008.png`` are one group, ``letter12``)."""
    if record.source is not None and record.image is None:
        return str(record.source)
    path = Path(record.image)
    return str(path.parent / (_LINE_NUMBER.sub("", path.stem) or path.stem))


def groups_of(records: list[LineRecord]) -> dict[str, list[LineRecord]]:
    """The records by page or document (:func:`group_of`), each group in the records'
    order, the groups in the order they first appear."""
    groups: dict[str, list[LineRecord]] = {}
    for r in records:
        groups.setdefault(group_of(r), []).append(r)
    return groups


def split_held_out(
    records: list[LineRecord], fraction: float = 0.2, seed: int = 42
) -> tuple[list[LineRecord], list[LineRecord], str]:
    """Split ``records`` into (adaptation lines, held-out lines) by whole groups
    (:func:`group_of`), about ``fraction`` of the lines held out, chosen at random with
    ``seed``; returns them and how they were split. With a single group, lines are split
    by position instead (every k-th line), and the description says so."""
    groups = groups_of(records)
    want = max(1, round(fraction * len(records)))
    if len(groups) >= 2:
        order = np.random.default_rng(seed).permutation(sorted(groups))
        held, taken = set(), 0
        for name in order:
            if taken >= want or len(held) == len(groups) - 1:
                break
            held.add(name)
            taken += len(groups[name])
        out = {id(r) for name in held for r in groups[name]}
        return (
            [r for r in records if id(r) not in out],
            [r for r in records if id(r) in out],
            f"{len(held)} of {len(groups)} pages or documents held out",
        )
    step = max(2, round(len(records) / want))
    out = records[step - 1 :: step]
    kept = [r for i, r in enumerate(records) if i % step != step - 1]
    return kept, out, f"one page or document only: every {step}th line held out"


@dataclass(frozen=True)
class Settings:
    """How a model is fine-tuned on ``lines`` lines (see :func:`settings_for`)."""

    lines: int
    learning_rate: float
    batch_size: int
    epochs: int
    early_stopping: int
    freeze: str


def settings_for(lines: int) -> Settings:
    """Fine-tuning settings for ``lines`` adaptation lines: the front end frozen below
    1,000 lines (few lines teach the LSTMs a hand; they would only blur the features),
    smaller batches for fewer lines (more updates per epoch), and patience on the held-out
    CER (early stopping) rather than a fixed number of epochs."""
    return Settings(
        lines=lines,
        learning_rate=3e-4 if lines < 1000 else 2e-4,
        batch_size=8 if lines < 400 else 16,
        epochs=200,
        early_stopping=6 if lines < 400 else 4,
        freeze="frontend" if lines < 1000 else "none",
    )


def blend_with_base(base, tuned, weight: float) -> None:
    """Set ``tuned``'s weights (a loaded model directory fine-tuned from ``base``) to
    ``(1 - weight) * base + weight * tuned`` (WiSE-FT: most of what fine-tuning gained,
    and much less forgotten); the classifier's columns of characters that fine-tuning
    added keep their tuned weights. Raises :class:`ArtifactError` unless ``tuned`` has
    ``base``'s network and its charset starts with ``base``'s."""
    known = base.charset.to_list()
    if base.model_config != tuned.model_config or tuned.charset.to_list()[: len(known)] != known:
        raise ArtifactError(
            "only a model and its fine-tuned copy can be averaged (the same network, the "
            "charset extended at most)"
        )
    for layer in tuned.model.layers:
        if not layer.weights:
            continue
        mixed = []
        for b, t in zip(base.model.get_layer(layer.name).get_weights(), layer.get_weights()):
            k = b.shape[-1]  # the classifier: the base's characters come first
            t[..., :k] = (1 - weight) * b + weight * t[..., :k]
            mixed.append(t)
        layer.set_weights(mixed)


def _scores(model, samples: list[Sample], charset, downsample: int) -> dict:
    """:func:`~handwriting.train.score_samples`, rounded for the report."""
    return {k: round(v, 3) for k, v in score_samples(model, samples, charset, downsample).items()}


def adapt(
    dirs,
    out,
    from_model="default",
    max_minutes: float = 15,
    held_out: float = 0.2,
    replay=None,
    seed: int = 42,
    progress: bool = True,
    learning_rate: float | None = None,
    base_weight: float = 0.5,
) -> dict:
    """Fine-tune ``from_model`` on the lines under ``dirs`` (line folders and/or ALTO/PAGE)
    into the model directory ``out``; returns the report (also in ``out/handwriting.json``
    under ``adaptation`` and in ``out/README.md``).

    A held-out slice (about ``held_out`` of the lines, whole pages or documents) is read
    by the base model first, then used to pick the best epoch and stop early. ``replay``:
    folders of generic lines (for example ``handwriting synth`` output) mixed in, as many as
    the adaptation lines, so the model keeps reading other hands. When no epoch reads the
    held-out slice better than the base model, ``out`` holds the base model unchanged.
    The best epoch's weights are then averaged with the base model's, ``base_weight`` of
    the base (:func:`blend_with_base`; 0 keeps the fine-tuned weights): other hands are
    read about as well as before. ``learning_rate`` overrides the one :func:`settings_for`
    chooses. Raises
    :class:`DataError` for fewer than :data:`MIN_LINES` usable lines.
    """
    started = time.time()
    out = Path(out)
    records, problems = scan_line_dirs(dirs)
    if not records:
        raise no_lines_error(dirs, problems)
    if len(records) < MIN_LINES:
        raise DataError(
            f"only {len(records)} line(s) under {', '.join(map(str, dirs))}: adaptation needs "
            f"at least {MIN_LINES} (100 or more to gain much); transcribe more lines first"
        )
    kept, held, how = split_held_out(records, held_out, seed)
    base = artifacts.load(from_model)
    log.info(
        "%d lines: %d to adapt on, %d held out to measure (%s)",
        len(records),
        len(kept),
        len(held),
        how,
    )
    if len(records) < FEW_LINES:
        log.warning(
            "only %d lines: the held-out figures rest on %d lines and are rough",
            len(records),
            len(held),
        )
    cache = out / "cache"
    train_samples, bad = prepare_lines(kept, base.preprocess, cache, "preprocessing", progress)
    held_samples, bad_held = prepare_lines(
        held, base.preprocess, cache, "preprocessing held-out", progress
    )
    if len(train_samples) + len(held_samples) < MIN_LINES or not held_samples:
        raise DataError(
            f"only {len(train_samples) + len(held_samples)} readable line(s); adaptation needs "
            f"at least {MIN_LINES}"
        )
    before = _scores(base.model, held_samples, base.charset, base.model_config.downsample)
    log.info(
        "base model on the held-out lines: CER %.2f %%, WER %.2f %%", before["cer"], before["wer"]
    )

    replayed: list[Sample] = []
    if replay:
        generic, _ = scan_line_dirs(replay)
        if generic:
            idx = np.linspace(0, len(generic) - 1, min(len(generic), len(train_samples))).astype(
                int
            )
            replayed, _ = prepare_lines(
                [generic[i] for i in idx], base.preprocess, cache, "preprocessing replay", progress
            )

    s = settings_for(len(train_samples))
    if learning_rate is not None:
        s = dataclasses.replace(s, learning_rate=learning_rate)
    config = Config(
        preprocess=base.preprocess,
        model=base.model_config,
        train=TrainConfig(
            batch_size=s.batch_size,
            epochs=s.epochs,
            learning_rate=s.learning_rate,
            lr_patience=max(2, s.early_stopping // 2),
            early_stopping=s.early_stopping,
            augment=True,
            seed=seed,
            freeze=s.freeze,
        ),
    )
    budget = max(60.0, max_minutes * 60 - (time.time() - started))
    summary = train(
        [],
        [],
        out,
        config,
        from_model=from_model,
        progress=progress,
        samples=(train_samples + replayed, held_samples),
        max_seconds=budget,
    )
    folder = RunFolder(out)
    history = folder.read_json(folder.history_file)
    tuned = artifacts.load(out)
    tuned_scores = {"cer": round(summary["best_val_cer"], 3)}
    best = next(h for h in history if h["epoch"] == summary["best_epoch"])
    tuned_scores["wer"] = round(best["val_wer"], 3)
    after = tuned_scores
    if base_weight > 0:
        blend_with_base(base, tuned, 1 - base_weight)
        after = _scores(tuned.model, held_samples, tuned.charset, base.model_config.downsample)
        log.info(
            "averaged with the base model (%.2f of it): held-out CER %.2f %% (fine-tuned alone "
            "%.2f %%)",
            base_weight,
            after["cer"],
            tuned_scores["cer"],
        )
    kept_base = after["cer"] >= before["cer"]
    if kept_base:  # never hand back a model that reads the user's lines worse
        log.warning(
            "no epoch read the held-out lines better than the base model (CER %.2f %% against "
            "%.2f %%): %s holds the base model unchanged",
            after["cer"],
            before["cer"],
            out,
        )
        artifacts.save(out, base.model, base.charset, base.preprocess, base.model_config)
        after = dict(before)
    elif base_weight > 0:  # the best epoch as train() saved it, averaged
        artifacts.save(
            out,
            tuned.model,
            tuned.charset,
            tuned.preprocess,
            tuned.model_config,
            training=tuned.meta.get("training"),
            metrics=tuned.meta.get("metrics"),
        )
    seconds = time.time() - started
    report = {
        "base_model": str(artifacts.resolve(from_model)),
        "lines": len(records),
        "adaptation_lines": len(train_samples),
        "held_out_lines": len(held_samples),
        "held_out": how,
        "replay_lines": len(replayed),
        "left_out": [f"{p}" for p in [*problems, *bad, *bad_held]],
        "settings": s.__dict__,
        "epochs": summary["epochs"],
        "best_epoch": None if kept_base else summary["best_epoch"],
        "before": before,
        "fine_tuned": tuned_scores,
        "base_weight": base_weight,
        "after": after,
        "relative_cer_reduction": round(
            100 * (before["cer"] - after["cer"]) / max(before["cer"], 1e-9), 1
        ),
        "kept_base_model": kept_base,
        "minutes": round(seconds / 60, 1),
        "lines_per_second": round(
            float(np.mean([h["lines_per_second"] for h in history])) if history else 0.0, 2
        ),
    }
    meta = artifacts.read_meta(out)
    meta["adaptation"] = report
    meta.setdefault("metrics", {})["held_out_cer"] = after["cer"]
    write_json_atomic(out / artifacts.META_FILE, meta)
    write_atomic(out / "README.md", _card(report).encode("utf-8"))
    shutil.rmtree(cache, ignore_errors=True)
    return report


def _card(r: dict) -> str:
    """The adapted model's card: what it was adapted from and on, and how much it helped."""
    b, a = r["before"], r["after"]
    verdict = (
        "No epoch read the held-out lines better than the base model, so this directory holds "
        "the base model unchanged."
        if r["kept_base_model"]
        else f"Relative CER reduction on the held-out lines: {r['relative_cer_reduction']} %."
    )
    st = r["settings"]
    frozen = "front end frozen" if st["freeze"] == "frontend" else "all layers trained"
    return f"""# Adapted model

Adapted from `{r["base_model"]}` with `handwriting adapt` on {r["adaptation_lines"]} lines;
{r["held_out_lines"]} more were held out to measure ({r["held_out"]}), and
{r["replay_lines"]} generic lines were replayed. {r["epochs"]} epochs in {r["minutes"]} minutes
({r["lines_per_second"]} lines/s): Adam {st["learning_rate"]:g}, batch {st["batch_size"]},
{frozen}, stopped after {st["early_stopping"]} epochs without a better held-out CER; the best
epoch's weights averaged with the base model's, {r["base_weight"]:g} of the base (fine-tuned
alone: held-out CER {r["fine_tuned"]["cer"]:.2f} %).

| held-out lines | CER % | WER % |
|---|---:|---:|
| base model | {b["cer"]:.2f} | {b["wer"]:.2f} |
| adapted | {a["cer"]:.2f} | {a["wer"]:.2f} |

{verdict}
"""
