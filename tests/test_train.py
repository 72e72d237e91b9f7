"""Smoke training on lines the test renders: a tiny network must learn measurably."""

import importlib.util
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.config import Config
from handwriting.errors import HandwritingError
from handwriting.train import train

from conftest import TINY, digit_texts, free_ports, write_line_dir


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    tr = write_line_dir(root / "train", digit_texts(240, seed=0), scale=0.8)
    va = write_line_dir(root / "val", digit_texts(30, seed=1), scale=0.8)
    return tr, va


@pytest.mark.slow
def test_smoke_training_lowers_val_cer_and_resumes(digits, tmp_path):
    tr, va = digits
    out = tmp_path / "run"
    cfg = Config.from_dict(TINY)
    s1 = train([tr], [va], out, cfg, epochs=1, progress=False)
    first = json.loads((out / "history.json").read_text())[0]["val_cer"]
    s2 = train([tr], [va], out, epochs=12, resume=True, progress=False)
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(1, 13))  # resumed, not restarted
    assert s2["best_val_cer"] < first - 50, (first, s2["best_val_cer"])
    assert s2["best_val_cer"] < 25
    # the run directory is a model directory with config and problems next to it
    art = artifacts.load(out)
    assert art.meta["metrics"]["val_cer"] == pytest.approx(s2["best_val_cer"])
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert (state["weights"], state["optimizer"]) == (
        "epoch-0012.weights.h5",
        "epoch-0012.optimizer.npz",
    )
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == [  # earlier epochs: gone
        "epoch-0012.optimizer.npz",
        "epoch-0012.weights.h5",
        "state.json",
    ]
    assert (out / "config.json").is_file()
    assert json.loads((out / "config.json").read_text())["model"]["lstm_units"] == 24
    assert s1["epochs"] == 1 and s2["epochs"] == 12
    # provenance: each start and resume is logged with its data folders
    runs = json.loads((out / "runs.json").read_text())
    assert [r["resume"] for r in runs] == [False, True]
    assert runs[0]["train"] == [str(tr)] and runs[0]["val"] == [str(va)]
    assert art.meta["training"]["data"]["train"] == [str(tr)]


def test_existing_run_needs_resume(digits, tmp_path):
    tr, va = digits
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state.json").write_text("{}")
    with pytest.raises(HandwritingError, match="--resume"):
        train([tr], [va], out, Config.from_dict(TINY), epochs=1, progress=False)
    with pytest.raises(HandwritingError, match="nothing to resume"):
        train([tr], [va], tmp_path / "fresh", resume=True, progress=False)


def test_a_damaged_run_is_named_on_resume_and_a_whole_one_resumes(tmp_path):
    d = write_line_dir(tmp_path / "gt", ["12", "34", "56"], scale=0.8)
    out, ck = tmp_path / "run", tmp_path / "run" / "checkpoint"
    train([d], [], out, Config.from_dict(TINY), epochs=1, progress=False)
    state = json.loads((ck / "state.json").read_text())
    for key in ("weights", "optimizer"):  # a truncated file: named, and what to do
        good = (ck / state[key]).read_bytes()
        (ck / state[key]).write_bytes(good[: len(good) // 2])
        with pytest.raises(HandwritingError, match=f"{state[key]}: damaged.*start a new run"):
            train([d], [], out, epochs=2, resume=True, progress=False)
        (ck / state[key]).write_bytes(good)
    (ck / "state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "charset"}))
    with pytest.raises(HandwritingError, match="state.json: damaged"):
        train([d], [], out, epochs=2, resume=True, progress=False)
    (out / "config.json").rename(tmp_path / "config.json")
    with pytest.raises(HandwritingError, match="config.json is missing.*restore it"):
        train([d], [], out, epochs=2, resume=True, progress=False)
    (tmp_path / "config.json").rename(out / "config.json")
    (ck / "state.json").write_text(  # a state that does not name its files
        json.dumps({k: v for k, v in state.items() if k not in ("weights", "optimizer")})
    )
    with pytest.raises(HandwritingError, match="state.json: damaged"):
        train([d], [], out, epochs=2, resume=True, progress=False)
    (ck / "state.json").write_text(json.dumps(state))
    assert state["monitor"] == "loss"  # no val lines: the best epoch is the lowest loss
    hist = json.loads((out / "history.json").read_text())  # a row whose checkpoint was not
    (out / "history.json").write_text(json.dumps(hist + [{**hist[0], "epoch": 2}]))  # committed
    assert train([d], [], out, epochs=2, resume=True, progress=False)["epochs"] == 2
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2]
    assert sorted(p.name for p in ck.iterdir()) == [
        "epoch-0002.optimizer.npz",
        "epoch-0002.weights.h5",
        "state.json",
    ]


def test_config_mistakes_are_one_line_naming_the_file(tmp_path):
    cfg = tmp_path / "c.toml"
    for body, message in (
        ("[model]\npools = [2, 2, 2, 1]", "pairs of whole numbers"),
        ("[model]\nprojection = -1", "projection must be 0..8192"),
        ("[model]\nconv_filters = [0, 64, 128, 128]", "conv_filters must be"),
        (
            "[model]\npools = [[4, 2], [4, 2], [4, 1], [1, 1]]",
            "divide the height by more than preprocess.height",
        ),
        ("[train]\nbatch_size = 0", "batch_size must be 1..4096"),
    ):
        cfg.write_text(body)
        with pytest.raises(HandwritingError, match=f"^{cfg}: .*{message}"):
            Config.from_file(cfg)


def test_too_long_label_is_reported_before_training(tmp_path):
    d = write_line_dir(tmp_path / "gt", ["12", "34", "56"], scale=0.8)
    (d / "l0000.gt.txt").write_text("1234567890" * 8)  # far more characters than frames
    cv2.imwrite(str(d / "white.png"), np.full((40, 200), 255, np.uint8))  # a labelled blank
    (d / "white.gt.txt").write_text("12")
    out = tmp_path / "run"
    summary = train([d], [], out, Config.from_dict(TINY), epochs=1, progress=False)
    # no val lines: the epoch kept is the one of lowest training loss, not reported as a CER
    assert summary["best_val_cer"] is None and summary["best_loss"] == pytest.approx(
        json.loads((out / "history.json").read_text())[0]["loss"]
    )
    problems = (out / "problems.txt").read_text()
    assert "l0000.png" in problems and "needs" in problems
    assert f"{d / 'white.png'}: no ink found (a blank image), but the label has text" in problems
    (run,) = json.loads((out / "runs.json").read_text())
    assert run["train"] == [str(d)] and run["val"] == [] and run["from_model"] is None


@pytest.mark.slow
def test_fine_tuning_extends_charset(digits, tmp_path, caplog):
    tr, va = digits
    base = tmp_path / "base"
    train([tr], [va], base, Config.from_dict(TINY), epochs=1, progress=False)
    new = write_line_dir(tmp_path / "letters", ["12ab", "ba34", "a1b2"], scale=0.8)
    val = write_line_dir(tmp_path / "val", ["12c"], scale=0.8)  # c: in no training label
    train([new], [val], tmp_path / "tuned", epochs=1, from_model=base, progress=False)
    assert "val line" in caplog.text and "cannot output: 'c'" in caplog.text  # said, not only filed
    old, tuned = artifacts.load(base), artifacts.load(tmp_path / "tuned")
    assert tuned.charset.chars[: len(old.charset)] == old.charset.chars
    assert {"a", "b"} <= set(tuned.charset.chars)
    assert tuned.meta["training"]["data"]["from_model"] == str(base)
    w_old = old.model.get_layer("conv0").get_weights()[0]
    assert w_old.shape == tuned.model.get_layer("conv0").get_weights()[0].shape


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install -e '.[jax]')"
)
def test_cli_training_on_the_jax_backend_resumes_and_loads_under_tensorflow(digits, tmp_path):
    tr, va = digits
    out, cfg = tmp_path / "run", tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    cmd = [
        sys.executable,
        "-m",
        "handwriting.cli",
        "train",
        "--train",
        str(tr),
        "--val",
        str(va),
        "--out",
        str(out),
        "--config",
        str(cfg),
    ]
    for extra in (["--epochs", "4"], ["--epochs", "12", "--resume"]):
        proc = subprocess.run(cmd + extra, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads((out / "runs.json").read_text())
    assert [r["backend"] for r in runs] == ["jax", "jax"]
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(1, 13))
    assert hist[-1]["val_cer"] < hist[0]["val_cer"] - 30, hist  # it learned across the resume
    # weights written under JAX load and read under TensorFlow (this process) alike
    from handwriting.evaluate import evaluate

    best = artifacts.load(out).meta["metrics"]["val_cer"]
    assert best == pytest.approx(min(h["val_cer"] for h in hist))
    assert evaluate([va], model=out, progress=False)["overall"]["cer"] == pytest.approx(
        best, abs=2.0
    )


@pytest.mark.slow
def test_max_column_pool_and_ctc_shortcut_train_and_resume(digits, tmp_path):
    """The recipe options of Retsinas et al.: the height pooled by max, and a training-only
    CTC head on the CNN columns whose weights travel with the checkpoint, not the model."""
    tr, va = digits
    out = tmp_path / "run"
    spec = json.loads(json.dumps(TINY))
    spec["model"].update(column_pool="max", shortcut=0.1)
    train([tr], [va], out, Config.from_dict(spec), epochs=1, progress=False)
    ck = out / "checkpoint"
    state = json.loads((ck / "state.json").read_text())
    with np.load(ck / state["optimizer"]) as saved:
        head = [saved[k] for k in ("shortcut0", "shortcut1")]
    assert head[0].shape[0] == 3  # kernel 3 over the columns
    art = artifacts.load(out)  # the saved model has neither the head nor a flattened height
    names = {layer.name for layer in art.model.layers}
    assert "shortcut" not in names and "height_max" in names
    assert art.model.get_layer("collapse").output.shape[-1] == spec["model"]["conv_filters"][-1]
    s = train([tr], [va], out, epochs=10, resume=True, progress=False)
    first = json.loads((out / "history.json").read_text())[0]["val_cer"]
    assert s["best_val_cer"] < first - 30, (first, s["best_val_cer"])
    with np.load(ck / json.loads((ck / "state.json").read_text())["optimizer"]) as saved:
        assert not np.array_equal(saved["shortcut0"], head[0])  # the head trained on


def test_recipe_options_are_checked():
    with pytest.raises(HandwritingError, match="column_pool"):
        Config.from_dict({"model": {"column_pool": "mean"}})
    with pytest.raises(HandwritingError, match="shortcut"):
        Config.from_dict({"model": {"shortcut": -1.0}})


@pytest.mark.slow
def test_multi_worker_training_on_two_local_workers(digits, tmp_path):
    """Two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy, $TF_CONFIG) train
    the tiny model for two epochs: both finish, only the chief writes the run (two epochs
    of history), its model loads and reads a line, and a single process resumes it."""
    tr, va = digits
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    cmd = [sys.executable, "-m", "handwriting.cli", "train", "--train", str(tr), "--val", str(va),
           "--config", str(cfg), "--epochs", "2", "--strategy", "multi-worker"]  # fmt: skip
    workers = []
    try:
        for k in range(2):
            env = {
                **os.environ,
                "KERAS_BACKEND": "tensorflow",
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": k}}
                ),
            }
            out = tmp_path / f"run{k}"
            workers.append(
                subprocess.Popen(
                    [*cmd, "--out", str(out)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        logs = [w.communicate(timeout=600)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    chief, other = tmp_path / "run0", tmp_path / "run1"
    assert not other.exists()  # the second worker wrote into a temporary copy
    hist = json.loads((chief / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    from handwriting.recognize import Recognizer

    rec = Recognizer(chief)
    (result,) = rec.recognize([cv2.imread(str(next(va.glob("*.png"))), cv2.IMREAD_GRAYSCALE)])
    assert result.ok and set(result.prediction.text) <= set("0123456789")
    single = subprocess.run(
        [*cmd[:-2], "--epochs", "3", "--resume", "--out", str(chief)],
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    assert [h["epoch"] for h in json.loads((chief / "history.json").read_text())] == [1, 2, 3]


@pytest.mark.slow
def test_mirrored_strategy_trains_and_multi_worker_needs_tf_config(digits, tmp_path, monkeypatch):
    """--strategy mirrored trains in one process (here on the CPU, one replica) as a plain
    run does, and resumes; --strategy multi-worker without $TF_CONFIG, or with --max-minutes,
    is one line before any work."""
    from handwriting.cli import main

    tr, va = digits
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    base = ["train", "--train", str(tr), "--val", str(va), "--config", str(cfg), "--epochs", "1"]
    out = tmp_path / "mirrored"
    assert main([*base, "--out", str(out), "--strategy", "mirrored"]) == 0
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1]
    resumed = [*base, "--epochs", "2", "--resume", "--out", str(out), "--strategy", "mirrored"]
    assert main(resumed) == 0  # restored in the strategy's scope
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main([*base, "--out", str(tmp_path / "mw"), "--strategy", "multi-worker"]) == 2
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                "task": {"type": "worker", "index": 0}}))  # fmt: skip
    timed = [*base, "--out", str(tmp_path / "mw"), "--strategy", "multi-worker"]
    assert main([*timed, "--max-minutes", "5"]) == 2
    assert not (tmp_path / "mw").exists()
