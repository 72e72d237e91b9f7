"""Typed, validated configuration, one frozen dataclass per concern.

Every config converts to and from a plain ``dict`` (JSON-ready), so a run writes its resolved
configuration next to its checkpoints and a model directory carries the preprocessing that
inference must repeat.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HandwritingError


def require(cond: bool, message: str) -> None:
    """Raise :class:`HandwritingError` with ``message`` unless ``cond`` holds."""
    if not cond:
        raise HandwritingError(message)


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _plain(v):
    """Tuples as the lists a config file writes."""
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


# the type of an option's default -> what its value must be (JSON/TOML types)
_KINDS = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    tuple: ("a list", lambda v: isinstance(v, (list, tuple))),
}


class ConfigSection:
    """Mixin of the config dataclasses: a dict round trip that rejects unknown keys and
    values of the wrong type with a clear message."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        require(
            data is None or isinstance(data, dict),
            f"{cls.__name__}: expected a table of options, got {data!r}",
        )
        data = dict(data or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        require(
            not unknown,
            f"unknown {cls.__name__} option(s): {', '.join(unknown)}; known: {', '.join(names)}",
        )
        for name, value in data.items():
            kind = _KINDS.get(type(names[name].default))
            if kind:
                require(
                    kind[1](value), f"{cls.__name__} option {name} must be {kind[0]}, got {value!r}"
                )
            if isinstance(value, list):  # JSON has no tuples
                data[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return cls(**data)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PreprocessConfig(ConfigSection):
    """How a line image becomes the normalized array the model reads.

    Args:
        height: output height in pixels; width follows the aspect ratio.
        pad: blank columns added on the left and the right after resizing.
        normalize_background: divide by an estimate of the paper (yellowed paper, uneven light).
        deskew: rotate the line so its text runs horizontally.
        max_skew: largest rotation searched, in degrees.
        slant: shear the line so that its strokes stand upright.
        max_slant: largest shear searched (tan of the slant angle).
    """

    height: int = 40
    pad: int = 8
    normalize_background: bool = True
    deskew: bool = True
    max_skew: float = 10.0
    slant: bool = True
    max_slant: float = 1.0

    def __post_init__(self):
        require(16 <= self.height <= 256, f"preprocess.height must be 16..256, got {self.height}")
        require(0 <= self.pad <= 128, f"preprocess.pad must be 0..128, got {self.pad}")
        require(0 <= self.max_skew <= 45, f"preprocess.max_skew must be 0..45, got {self.max_skew}")
        require(
            0 <= self.max_slant <= 2, f"preprocess.max_slant must be 0..2, got {self.max_slant}"
        )


@dataclass(frozen=True)
class ModelConfig(ConfigSection):
    """The network: a CNN front end, height collapsed into per-column features, stacked BiLSTMs.

    Args:
        conv_filters: filters of each convolution block.
        pools: (height, width) pooling after each block; the product of the widths is the
            time down-sampling factor.
        separable: use depthwise-separable convolutions after the first block.
        projection: size of the dense projection of each column (0: none).
        lstm_units: units per direction of each bidirectional LSTM layer.
        lstm_layers: number of stacked bidirectional LSTM layers.
        dropout: dropout rate before each LSTM layer and the classifier.
        column_pool: how a column's feature map becomes one vector: ``"flatten"`` (height x
            filters values) or ``"max"`` (the largest value of each filter over the height, as
            in Retsinas et al., DAS 2022).
        shortcut: weight of a second CTC loss, read from the CNN columns by a 1-D convolution
            during training only (the "CTC shortcut" of Retsinas et al.); 0: none. The head is
            not part of the saved model.
    """

    conv_filters: tuple[int, ...] = (32, 64, 128, 128)
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (1, 1))
    separable: bool = False
    projection: int = 256
    lstm_units: int = 256
    lstm_layers: int = 3
    dropout: float = 0.25
    column_pool: str = "flatten"
    shortcut: float = 0.0

    def __post_init__(self):
        require(
            self.column_pool in ("flatten", "max"),
            f'model.column_pool must be "flatten" or "max", got {self.column_pool!r}',
        )
        require(self.shortcut >= 0, f"model.shortcut must be >= 0 (0: none), got {self.shortcut}")
        require(1 <= len(self.conv_filters) <= 12, "model.conv_filters needs 1 to 12 blocks")
        require(
            all(_positive_int(f) and f <= 4096 for f in self.conv_filters),
            f"model.conv_filters must be whole numbers 1..4096, got {list(self.conv_filters)}",
        )
        require(
            all(
                isinstance(p, (list, tuple))
                and len(p) == 2
                and all(_positive_int(v) and v <= 16 for v in p)
                for p in self.pools
            ),
            f"model.pools must be (height, width) pairs of whole numbers >= 1, e.g. "
            f"[[2, 2], [2, 2], [2, 1], [1, 1]]; got {_plain(self.pools)}",
        )
        require(
            len(self.pools) == len(self.conv_filters),
            "model.pools needs one (height, width) pair per convolution block",
        )
        require(
            0 <= self.projection <= 8192,
            f"model.projection must be 0..8192 (0: none), got {self.projection}",
        )
        require(1 <= self.lstm_layers <= 12, "model.lstm_layers must be 1..12")
        require(1 <= self.lstm_units <= 4096, "model.lstm_units must be 1..4096")
        require(0 <= self.dropout < 1, "model.dropout must be in [0, 1)")

    @property
    def downsample(self) -> int:
        """Input columns per output frame."""
        factor = 1
        for _, w in self.pools:
            factor *= w
        return factor


@dataclass(frozen=True)
class TrainConfig(ConfigSection):
    """Optimisation and data handling.

    Args:
        batch_size: lines per batch.
        epochs: maximum number of epochs.
        learning_rate: initial Adam learning rate.
        lr_patience: epochs without val CER improvement before the learning rate is halved.
        early_stopping: epochs without val CER improvement before training stops (0: never).
        augment: apply seeded training distortions.
        augment_probability: chance of each distortion per line (lower = milder augmentation).
        seed: seed of shuffling, augmentation and weight initialisation.
        bucket_width: batch widths are padded up to a multiple of this.
        val_limit: evaluate at most this many val lines per epoch (0: all).
        freeze: ``"frontend"`` keeps the convolutional front end's weights (and its batch
            statistics) as they are, training the LSTMs and the classifier only: for
            fine-tuning on few lines; ``"none"`` trains everything.
    """

    batch_size: int = 16
    epochs: int = 50
    learning_rate: float = 1e-3
    lr_patience: int = 3
    early_stopping: int = 8
    augment: bool = True
    augment_probability: float = 0.5
    seed: int = 42
    bucket_width: int = 64
    val_limit: int = 0
    freeze: str = "none"

    def __post_init__(self):
        require(
            self.freeze in ("none", "frontend"),
            f'train.freeze must be "none" or "frontend", got {self.freeze!r}',
        )
        require(1 <= self.batch_size <= 4096, "train.batch_size must be 1..4096")
        require(1 <= self.epochs <= 100_000, "train.epochs must be 1..100000")
        require(
            math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 10,
            f"train.learning_rate must be a number in (0, 10], got {self.learning_rate}",
        )
        require(1 <= self.bucket_width <= 4096, "train.bucket_width must be 1..4096")
        require(0 <= self.seed <= 2**32 - 1, f"train.seed must be 0..4294967295, got {self.seed}")
        require(0 < self.augment_probability <= 1, "train.augment_probability must be in (0, 1]")
        require(self.lr_patience >= 0, "train.lr_patience must be >= 0")
        require(self.early_stopping >= 0, "train.early_stopping must be >= 0 (0: never)")
        require(self.val_limit >= 0, "train.val_limit must be >= 0 (0: all)")


@dataclass(frozen=True)
class Config(ConfigSection):
    """The three concerns together, as written to ``config.json`` in a run directory."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        require(
            data is None or isinstance(data, dict),
            f"a config is a table of sections (preprocess, model, train), got {data!r}",
        )
        data = dict(data or {})
        unknown = sorted(set(data) - {"preprocess", "model", "train"})
        require(
            not unknown,
            f"unknown config section(s): {', '.join(unknown)}; known: preprocess, model, train",
        )
        return cls(
            preprocess=PreprocessConfig.from_dict(data.get("preprocess")),
            model=ModelConfig.from_dict(data.get("model")),
            train=TrainConfig.from_dict(data.get("train")),
        )

    def __post_init__(self):
        h = self.preprocess.height
        for ph, _ in self.model.pools:
            h //= ph
        require(
            h >= 1,
            f"model.pools divide the height by more than preprocess.height "
            f"({self.preprocess.height}): lower the pools' heights or raise the height",
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        """Read a ``.json`` or ``.toml`` file with optional sections preprocess/model/train."""
        path = Path(path)
        if not path.is_file():
            raise HandwritingError(f"{path}: config file not found")
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise HandwritingError(f"{path}: not a valid JSON/TOML config ({exc})") from None
        try:
            return cls.from_dict(data)
        except HandwritingError as exc:
            raise HandwritingError(f"{path}: {exc}") from None
