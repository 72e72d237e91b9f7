import json
from pathlib import Path

import pytest

from handwriting.charset import BLANK, Charset, normalize_text
from handwriting.config import Config, ModelConfig, PreprocessConfig, TrainConfig
from handwriting.errors import CharsetError, HandwritingError


def test_charset_round_trip_and_blank():
    cs = Charset.from_texts(["héllo", "wörld"])
    assert BLANK == 0
    ids = cs.encode("höllé")
    assert 0 not in ids and max(ids) == len(cs)
    assert cs.decode(ids) == "höllé"
    assert cs.n_classes == len(cs) + 1
    assert Charset.from_list(cs.to_list()) == cs
    assert cs.decode([0] + ids + [0]) == "höllé"  # blanks are dropped


def test_charset_unknown_character_is_named():
    cs = Charset.from_texts(["abc"])
    with pytest.raises(CharsetError, match=r"'z' \(U\+007A\)"):
        cs.encode("abz")


def test_charset_extend_keeps_indices():
    cs = Charset.from_texts(["abc"])
    ext = cs.extend(["cab", "xyz"])
    assert ext.chars[:3] == cs.chars
    assert ext.encode("abc") == cs.encode("abc")
    assert ext.decode(ext.encode("zyx")) == "zyx"


def test_normalize_text_nfc_and_spaces():
    assert normalize_text("  e\u0301té \t  ici ") == "été ici"


def test_config_round_trip_and_file(tmp_path):
    cfg = Config(preprocess=PreprocessConfig(height=32), model=ModelConfig(lstm_layers=2))
    assert Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    p = tmp_path / "c.toml"
    p.write_text("[model]\nlstm_units = 64\n[train]\nepochs = 3\n")
    loaded = Config.from_file(p)
    assert loaded.model.lstm_units == 64 and loaded.train.epochs == 3


def test_config_rejects_unknown_and_invalid():
    with pytest.raises(HandwritingError, match="unknown ModelConfig option"):
        ModelConfig.from_dict({"lstm_unit": 3})
    with pytest.raises(HandwritingError, match="height"):
        PreprocessConfig(height=4)
    with pytest.raises(HandwritingError, match="pools"):
        ModelConfig(conv_filters=(8, 16), pools=((2, 2),))
    with pytest.raises(HandwritingError, match="augment_probability"):
        TrainConfig(augment_probability=0)


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json")),
    ids=lambda p: p.name,
)
def test_shipped_configs_load(path):
    config = Config.from_file(path)  # unknown keys or out-of-range values raise
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"train": {"batch_size": "16"}}, "batch_size must be an integer, got '16'"),
        ({"train": {"augment": 1}}, "augment must be true or false"),
        ({"model": {"pools": 3}}, "pools must be a list"),
        ({"train": 5}, "expected a table of options"),
        ([1, 2], "a config is a table of sections"),
    ],
)
def test_config_values_of_the_wrong_type_are_clear_errors(data, message):
    with pytest.raises(HandwritingError, match=message):
        Config.from_dict(data)
    assert (
        Config.from_dict({"train": {"learning_rate": 1}}).train.learning_rate == 1
    )  # int for float
