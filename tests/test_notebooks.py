"""The notebooks run top to bottom against the current API (QUICK mode, generated ground truth)."""

import json
from pathlib import Path

import nbformat
import pytest

from handwriting.artifacts import DEFAULT_MODEL_DIR, read_meta

from conftest import digit_texts, write_line_dir

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, cwd: Path):
    """Execute the notebook top to bottom with ``cwd`` as its working directory."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


@pytest.mark.parametrize("name", ["train.ipynb", "recognize.ipynb"])
def test_notebooks_are_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") for c in code)
    # papermill injects its parameters after the cell tagged "parameters": the first one
    assert "parameters" in code[0].metadata.get("tags", [])


@pytest.mark.slow
@pytest.mark.parametrize("from_model", ["", "default"], ids=["scratch", "finetune"])
def test_train_notebook_quick(tmp_path, monkeypatch, from_model):
    if from_model and not (DEFAULT_MODEL_DIR / "handwriting.json").is_file():
        pytest.skip("no default model in handwriting/models/default")
    tr = write_line_dir(tmp_path / "train", digit_texts(60, seed=0), scale=0.8)
    va = write_line_dir(tmp_path / "val", digit_texts(12, seed=1), scale=0.8)
    out = tmp_path / "run"
    env = {
        "HW_TRAIN": str(tr),
        "HW_VAL": str(va),
        "HW_OUT": str(out),
        "HW_QUICK": "1",
        "HW_FROM_MODEL": from_model,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb = run_notebook("train.ipynb", tmp_path)  # any working directory
    assert (out / "handwriting.json").is_file() and (out / "model.tflite").is_file()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "TFLite reads" in text
    assert ("held-out CER" if from_model else "best val CER") in text
    units = json.loads((out / "config.json").read_text())["model"]["lstm_units"]
    expected = read_meta(from_model)["model"]["lstm_units"] if from_model else 48
    assert units == expected  # fine-tuning keeps the default model's network
    runs = json.loads((out / "runs.json").read_text())
    assert runs[0]["from_model"] == (from_model or None)


@pytest.mark.slow
def test_recognize_notebook():
    if not (DEFAULT_MODEL_DIR / "handwriting.json").is_file():
        pytest.skip("no default model in handwriting/models/default")
    nb = run_notebook("recognize.ipynb", NOTEBOOKS.parent)  # not the notebooks folder
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # line, page, inspect figure
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "LM:     Please send the two parcels before Tuesday." in text  # greedy: "tuo"
