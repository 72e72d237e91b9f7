"""Matplotlib figures shared by the CLI and the notebooks (no logic of their own elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _in_notebook():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except Exception:
        return False


def _save(fig, out):
    if out is None:
        return fig
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    from .fileio import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    write_atomic(out, buf.getvalue())
    _plt().close(fig)
    return out


def training_curves(history, out=None):
    """Loss and val CER/WER per epoch from a run's ``history.json`` (path or list of rows)."""
    plt = _plt()
    rows = (
        json.loads(Path(history).read_text(encoding="utf-8"))
        if not isinstance(history, list)
        else history
    )
    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    a.plot(ep, [r["loss"] for r in rows], "o-", color="tab:blue")
    a.set(title="Training loss", xlabel="epoch", ylabel="CTC loss (per line)")
    if any("val_cer" in r for r in rows):
        b.plot(ep, [r.get("val_cer") for r in rows], "o-", label="CER", color="tab:red")
        b.plot(ep, [r.get("val_wer") for r in rows], "s--", label="WER", color="tab:orange")
        b.legend()
    b.set(title="Validation error rates", xlabel="epoch", ylabel="error rate (%)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)


def confidence_text(
    ax, text: str, confidences, positions=None, y: float = 0.5, cmap="RdYlGn", fontsize: int = 13
):
    """Draw ``text`` with each character coloured by its confidence (red 0 → green 1)."""
    plt = _plt()
    cm = plt.get_cmap(cmap)
    n = max(1, len(text))
    for k, (ch, p) in enumerate(zip(text, confidences)):
        x = positions[k] if positions is not None else (k + 0.5) / n
        ax.text(
            x,
            y,
            ch if ch != " " else "␣",
            color="black",
            fontsize=fontsize,
            ha="center",
            va="center",
            family="DejaVu Sans",
            bbox=dict(facecolor=cm(float(p)), edgecolor="none", pad=1.5, alpha=0.85),
        )


def inspect_figure(recognizer, image, out=None, layer: int = 0, units: int = 16):
    """One figure, columns aligned to the line: the preprocessed line; the CTC posteriors of
    the characters read (plus blank) with each character at its peak frame; mean forget /
    input / output gate per frame for one BiLSTM layer (both directions); the cell state of its
    most active units; the text coloured by per-character confidence."""
    from .lstm_trace import lstm_traces
    from .preprocessing import pad_to_bucket

    plt = _plt()
    line = recognizer.preprocess(image)
    probs = recognizer.probabilities(line)
    pred = recognizer.predict_lines([line])[0]
    T = len(probs)  # the traces of the padded line the model decodes, cut to the line's frames
    traces = lstm_traces(recognizer.backend.model, pad_to_bucket(line), frames=T)
    n_layers = len({k for k, _ in traces})
    if not 0 <= layer < n_layers:
        from .errors import HandwritingError

        raise HandwritingError(
            f"--layer {layer}: this model has {n_layers} BiLSTM layers; give 0..{n_layers - 1}"
        )
    fw, bw = traces[(layer, "forward")], traces[(layer, "backward")]
    fig, axes = plt.subplots(
        6,
        1,
        figsize=(max(8, min(24, T / 12)), 11),
        sharex=True,
        gridspec_kw={"height_ratios": [1.1, 2.2, 1.4, 1.4, 2.2, 0.6]},
    )
    ext = (-0.5, T - 0.5)
    axes[0].imshow(1 - line, cmap="gray", aspect="auto", extent=(*ext, line.shape[0], 0))
    axes[0].set(title="Preprocessed line (what the model reads)", ylabel="px")

    classes = [0] + sorted(
        {recognizer.charset.encode(c)[0] for c in pred.text if c in recognizer.charset}
    )
    labels = ["blank"] + [repr(recognizer.charset.decode([c]))[1:-1] for c in classes[1:]]
    im = axes[1].imshow(
        probs[:, classes].T,
        aspect="auto",
        cmap="magma",
        vmin=0,
        vmax=1,
        extent=(*ext, len(classes) - 0.5, -0.5),
        interpolation="nearest",
    )
    axes[1].set_yticks(range(len(classes)), labels, fontsize=7)
    for ch, t in zip(pred.text, pred.positions):
        axes[1].text(t, -0.9, ch, ha="center", va="bottom", fontsize=9, color="tab:blue")
    axes[1].set_title(
        "CTC posteriors of the characters read (decoded characters above their peak frame)", pad=16
    )
    fig.colorbar(im, ax=axes[1], pad=0.005, fraction=0.02, label="p")

    for ax, tr, name in ((axes[2], fw, "forward"), (axes[3], bw, "backward")):
        t = np.arange(T)
        ax.plot(t, tr.forget_gate.mean(1), label="forget f", color="tab:green")
        ax.plot(t, tr.input_gate.mean(1), label="input i", color="tab:blue")
        ax.plot(t, tr.output_gate.mean(1), label="output o", color="tab:purple")
        ax.set(
            ylim=(0, 1),
            ylabel="mean gate",
            title=f"{fw.layer} {name}: mean gate activation over {tr.hidden.shape[1]} units",
        )
        ax.legend(loc="upper right", fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
    cells = np.concatenate([fw.cell, bw.cell], axis=1)
    top = np.argsort(cells.std(0))[::-1][:units]
    lim = float(np.abs(cells[:, top]).max()) or 1.0
    im = axes[4].imshow(
        cells[:, top].T,
        aspect="auto",
        cmap="coolwarm",
        vmin=-lim,
        vmax=lim,
        extent=(*ext, len(top) - 0.5, -0.5),
        interpolation="nearest",
    )
    axes[4].set(
        title=f"Cell state c of the {len(top)} most variable units of {fw.layer} (fw and bw)",
        ylabel="unit",
    )
    fig.colorbar(im, ax=axes[4], pad=0.005, fraction=0.02, label="c")
    axes[5].set(
        ylim=(0, 1),
        yticks=[],
        title=f"Read text, coloured by confidence (line {pred.confidence:.2f}; red = 0, green = 1)",
    )
    confidence_text(axes[5], pred.text, pred.char_confidences, pred.positions, fontsize=10)
    axes[5].set_xlabel(f"frame (1 frame = {recognizer.backend.downsample} px of the line)")
    axes[5].set_xlim(*ext)
    fig.tight_layout()
    return _save(fig, out)


def line_grid(records, preprocess_config, n: int = 6, out=None):
    """Ground-truth lines: the original image, the preprocessed line the model reads (height =
    ``preprocess_config.height``), and the transcription."""
    from .groundtruth import load_line_image
    from .preprocessing import preprocess

    plt = _plt()
    records = list(records)[:n]
    fig, axes = plt.subplots(2 * len(records), 1, figsize=(11, 1.25 * 2 * len(records)))
    axes = np.atleast_1d(axes)
    for k, r in enumerate(records):
        img = load_line_image(r)
        line = preprocess(img, preprocess_config)
        axes[2 * k].imshow(img, cmap="gray", aspect="equal")
        axes[2 * k].set_title(f"{r.id}: “{r.text}”", fontsize=9, loc="left")
        axes[2 * k + 1].imshow(1 - line, cmap="gray", aspect="equal")
        axes[2 * k + 1].set_title(
            f"preprocessed ({line.shape[0]} × {line.shape[1]} px, {line.shape[1]} columns)",
            fontsize=8,
            loc="left",
            color="dimgray",
        )
        for ax in axes[2 * k : 2 * k + 2]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return _save(fig, out)


def _colour(p: float) -> str:
    import matplotlib

    r, g, b, _ = _plt().get_cmap("RdYlGn")(float(p))
    return matplotlib.colors.to_hex((r, g, b))


def confidence_html(prediction) -> str:
    """The text with each character's background coloured by its confidence (red 0 → green 1)."""
    import html

    spans = "".join(
        f'<span title="{p:.2f}" style="background:{_colour(p)};padding:1px 0">'
        f"{html.escape(c) if c != ' ' else '&nbsp;'}</span>"
        for c, p in zip(prediction.text, prediction.char_confidences)
    )
    return (
        f'<div style="font-family:monospace;font-size:16px;line-height:1.8">{spans}'
        f" <small>(line confidence {prediction.confidence:.2f})</small></div>"
    )


def lines_table_html(rows, n: int = 15) -> str:
    """An HTML table of per-line results (``handwriting.evaluate.evaluate_lines``)."""
    import html

    head = "<tr><th>CER %</th><th>prediction</th><th>truth</th><th>line</th></tr>"
    body = "".join(
        f"<tr><td>{r['cer']:.1f}</td><td>{html.escape(r['prediction'])}</td>"
        f"<td>{html.escape(r['truth'])}</td><td>{html.escape(Path(r['path']).name)}</td></tr>"
        for r in rows[:n]
    )
    return f"<table>{head}{body}</table>"


def page_figure(image, page, out=None):
    """The page with its detected lines drawn, each labelled with its number and confidence."""
    from .images import load_image, to_gray
    from .segment import draw_lines

    plt = _plt()
    gray = to_gray(image) if isinstance(image, np.ndarray) else load_image(image)
    drawn = draw_lines(gray, page.lines)[..., ::-1]  # BGR -> RGB
    fig, ax = plt.subplots(figsize=(8, 8 * gray.shape[0] / max(gray.shape[1], 1)))
    ax.imshow(drawn)
    for line in page.lines:
        if line.confidence is not None:
            x, y = np.asarray(line.polygon).max(0)
            ax.text(x, y, f"{line.confidence:.2f}", color="tab:purple", fontsize=8, va="top")
    ax.set(
        title=f"{len(page.lines)} lines found (reading order number; line confidence)",
        xticks=[],
        yticks=[],
    )
    fig.tight_layout()
    return _save(fig, out)
