"""Figures: attention heat maps, BLEU by sentence length, training curves.

matplotlib is imported inside the functions (with the non-interactive Agg backend), so that
importing this module, and starting the CLI, stays fast.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from seq2seq.errors import UserError
from seq2seq.files import atomic_write


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, output: bool = True) -> Path:
    """Save a figure as PNG (parents created), close it, return the path (output: a file the user
    named, see files.atomic_write)."""
    plt = _pyplot()
    path = Path(path)
    try:
        with warnings.catch_warnings():  # e.g. "Glyph ... missing from font" for emoji pieces
            warnings.simplefilter("ignore")
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"),
                         output=output)
    finally:
        plt.close(fig)
    return path


SYMBOL_COLOR = "#b54708"  # pieces that show an entity symbol's words (as the page of `s2s serve` marks them)


def plot_attention(weights: Any, src_pieces: Sequence[str], tgt_pieces: Sequence[str],
                   path: str | Path, title: str = "", src_symbols: Sequence[str | None] | None = None,
                   tgt_symbols: Sequence[str | None] | None = None) -> Path:
    """Heat map of attention weights (see attention_figure) saved as a PNG."""
    return _save(attention_figure(weights, src_pieces, tgt_pieces, title, src_symbols, tgt_symbols), path)


def attention_figure(weights: Any, src_pieces: Sequence[str], tgt_pieces: Sequence[str], title: str = "",
                     src_symbols: Sequence[str | None] | None = None,
                     tgt_symbols: Sequence[str | None] | None = None) -> Any:
    """Heat map of attention weights: source subwords on x, target subwords on y; a matplotlib
    figure (the caller saves or logs it, and closes it).

    weights: (tgt_len, src_len) tensor or array, row t = attention of output step t. src_symbols,
    tgt_symbols: per piece the entity symbol it shows (TranslationResult.source_symbols,
    Translation.symbols), else None; those pieces are drawn in SYMBOL_COLOR, bold.
    """
    import numpy as np

    plt = _pyplot()
    matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    tgt_len, src_len = matrix.shape
    if (tgt_len, src_len) != (len(tgt_pieces), len(src_pieces)):
        raise ValueError(f"weights are {tgt_len} x {src_len} but there are {len(tgt_pieces)} target "
                         f"and {len(src_pieces)} source pieces")
    width = min(max(4.0, 0.38 * src_len + 2.0), 40.0)
    height = min(max(3.0, 0.32 * tgt_len + 1.5), 40.0)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=max(float(matrix.max()), 1e-9),
                      aspect="auto", interpolation="nearest")
    ax.set_xticks(range(src_len))
    ax.set_xticklabels(src_pieces, rotation=90, fontsize=9)
    ax.set_yticks(range(tgt_len))
    ax.set_yticklabels(tgt_pieces, fontsize=9)
    ax.set_xlabel("source subwords")
    ax.set_ylabel("target subwords")
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.xaxis.set_label_position("top")
    for labels, symbols in ((ax.get_xticklabels(), src_symbols), (ax.get_yticklabels(), tgt_symbols)):
        for label, symbol in zip(labels, symbols or ()):
            if symbol:
                label.set_color(SYMBOL_COLOR)
                label.set_fontweight("bold")
    if title:
        ax.set_title(title, fontsize=10, pad=12)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="attention weight")
    return fig


def plot_bleu_by_length(buckets: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
                        path: str | Path, title: str = "BLEU by source length") -> Path:
    """Bar chart of BLEU per source-length bucket, one bar group per bucket.

    buckets: a list of {"bucket": "1-5", "sentences": n, "bleu": float or None} (as
    `seq2seq.evaluate.bleu_by_length` returns), or a mapping label -> such a list to compare
    several models (e.g. RNN with and without attention) side by side. Sentence counts of the
    first series are written under the bucket names.
    """
    plt = _pyplot()
    series: Mapping[str, Sequence[Mapping[str, Any]]] = (
        buckets if isinstance(buckets, Mapping) else {"": buckets})
    if not series:
        raise ValueError("no buckets to plot")
    names = [b["bucket"] for b in next(iter(series.values()))]
    counts = [b.get("sentences", 0) for b in next(iter(series.values()))]
    group_width = 0.8
    bar_width = group_width / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 2), 4.2))
    for k, (label, rows) in enumerate(series.items()):
        by_name = {b["bucket"]: b for b in rows}
        values = [by_name.get(n, {}).get("bleu") for n in names]
        xs = [i - group_width / 2 + (k + 0.5) * bar_width for i in range(len(names))]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width=bar_width * 0.92, label=label or None)
        for bar, value in zip(bars, values):
            text = "–" if value is None else f"{value:.1f}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{n}\n({c} sent.)" for n, c in zip(names, counts)], fontsize=9)
    ax.set_xlabel("source length (words)")
    ax.set_ylabel("BLEU")
    ax.set_ylim(0, max(10.0, ax.get_ylim()[1] * 1.1))
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1 or next(iter(series)):
        ax.legend(fontsize=9)
    ax.set_title(title, fontsize=11)
    return _save(fig, path)


def _read_metrics(path: Path) -> dict[str, list[tuple[float, float]]]:
    """metrics.csv -> column -> [(step, value)] for the rows where that column has a value."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise UserError(f"{path}: metrics file not found") from None
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        try:
            step = float(row.get("step") or "nan")
        except ValueError:
            continue
        if math.isnan(step):
            continue
        for column, text in row.items():
            if column in (None, "step") or text in (None, ""):
                continue
            try:
                value = float(text)
            except ValueError:
                continue
            if math.isfinite(value):
                series.setdefault(column, []).append((step, value))
    return series


def plot_training_curves(metrics_csv_path: str | Path, out_png: str | Path) -> Path:
    """Four panels against the update step: losses, dev BLEU/chrF, learning rate, tokens/s.

    metrics.csv columns: step, epoch, train_loss, dev_loss, dev_bleu, dev_chrf, lr,
    tokens_per_s, elapsed_s; dev columns may be empty on rows without validation.
    """
    plt = _pyplot()
    series = _read_metrics(Path(metrics_csv_path))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [
        (axes[0][0], "loss", [("train_loss", "train"), ("dev_loss", "dev")]),
        (axes[0][1], "dev score", [("dev_bleu", "BLEU"), ("dev_chrf", "chrF")]),
        (axes[1][0], "learning rate", [("lr", "lr")]),
        (axes[1][1], "target tokens / s", [("tokens_per_s", "tokens/s")]),
    ]
    for ax, ylabel, columns in panels:
        drawn = False
        for column, label in columns:
            points = series.get(column, [])
            if not points:
                continue
            xs, ys = zip(*points)
            marker = "o" if column.startswith("dev_") else None
            ax.plot(xs, ys, label=label, marker=marker, markersize=3, linewidth=1.2)
            drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes,
                    color="grey")
        elif len(columns) > 1:
            ax.legend(fontsize=9)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("update step")
    fig.suptitle(f"training curves ({Path(metrics_csv_path).parent.name or metrics_csv_path})", fontsize=11)
    fig.tight_layout()
    return _save(fig, out_png, output=False)  # in the run folder: a link there is replaced
