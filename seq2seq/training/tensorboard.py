"""TensorBoard event files of a training run (train.tensorboard; the `tensorboard` extra).

    runs/<name>/events.out.tfevents.*     beside metrics.csv: `tensorboard --logdir runs` shows each run by its name

Written by rank 0 at the moments metrics.csv gets its rows (training/progress.py): train/loss,
train/lr, train/grad_norm and train/tokens_per_s every train.log_every updates; dev/loss, dev/bleu,
dev/chrf and dev/attention (the attention of one fixed dev sentence: the last decoder layer, the
mean of its heads) at each validation; the run's config as hyperparameters (the hparams plugin, with
the dev scores as its metrics) and as text. metrics.csv stays the record: a write that fails warns
once and ends the TensorBoard logging, never the training. On --resume the writer purges what the
interrupted process wrote after last.pt's step, so the curves do not double back.
"""

from __future__ import annotations

import importlib
import io
import struct
import warnings
from pathlib import Path
from typing import Any, Callable

import yaml

from seq2seq.config import Config
from seq2seq.errors import UserError
from seq2seq.ownership import EVENT_FILES  # what SummaryWriter writes: the run's own
from seq2seq.training.run_dir import RunLog

INSTALL = "pip install 's2s[tensorboard]'"


def summary_writer(setting: str | bool) -> type | None:
    """torch's SummaryWriter when train.tensorboard (`setting`) asks for event files and the
    tensorboard package can be imported; None for false, or auto without the package. true without
    it is a UserError (before anything is written: `s2s train` checks it first)."""
    if setting is False:
        return None
    try:
        importlib.import_module("tensorboard")  # torch.utils.tensorboard may be imported already without it
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # noqa: BLE001 - not installed, or an install that does not import
        if setting is True:
            raise UserError(f"train.tensorboard is true but TensorBoard cannot be imported ({type(exc).__name__}: "
                            f"{exc}); install it with {INSTALL}, or set train.tensorboard: auto or false") from None
        return None
    return SummaryWriter


def check_tensorboard(config: Config) -> None:
    """train.tensorboard: true needs the package (a UserError naming the key otherwise)."""
    summary_writer(config.train.tensorboard)


def hyperparameters(config: Config) -> dict[str, str | int | float]:
    """The config as flat keys ("model.d_model"), numbers as numbers, the rest as YAML writes it."""
    flat: dict[str, str | int | float] = {}
    for section, values in config.to_dict().items():
        for key, value in (values.items() if isinstance(values, dict) else [("", values)]):
            name = f"{section}.{key}" if key else section
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                flat[name] = value
            else:  # true/false, null, a list of corpora
                flat[name] = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return flat


class TensorBoard:
    """The event files of one run (rank 0); every method does nothing once logging has stopped."""

    def __init__(self, writer: Any, log: RunLog) -> None:
        self.writer: Any = writer
        self.log = log

    @classmethod
    def open(cls, run_dir: Path, config: Config, resume_step: int | None, log: RunLog) -> TensorBoard | None:
        """The writer of the event files in `run_dir` (None with train.tensorboard false, or auto
        without the package). A new run (--force included) first deletes the event files an earlier
        run left there; a resumed one purges the steps after `resume_step` that the interrupted process wrote."""
        board = cls(None, log)
        writer_class = summary_writer(config.train.tensorboard)
        try:
            if resume_step is None:
                for stale in run_dir.glob(EVENT_FILES):
                    stale.unlink()
            if writer_class is None:
                return None
            purge = None if resume_step is None else resume_step + 1
            board.writer = writer_class(log_dir=str(run_dir), purge_step=purge, flush_secs=30)
            board._write_config(config, 0 if resume_step is None else resume_step)
        except Exception as exc:  # noqa: BLE001 - TensorBoard never fails a training
            board._stop(exc)
            return None
        return board

    def log_progress(self, step: int, loss: float, lr: float, grad_norm: float, tokens_per_s: float) -> None:
        """A progress row's values (metrics.csv's train_loss, lr, tokens_per_s) and the gradient norm."""
        def write(writer: Any) -> None:
            for tag, value in (("train/loss", loss), ("train/lr", lr), ("train/grad_norm", grad_norm),
                               ("train/tokens_per_s", tokens_per_s)):
                writer.add_scalar(tag, value, step)

        self._guarded(write)

    def log_validation(self, step: int, loss: float, bleu: float, chrf: float, attention: Any = None) -> None:
        """A validation's scores, and the attention map of its fixed dev sentence (a TranslationResult)."""
        def write(writer: Any) -> None:
            for tag, value in (("dev/loss", loss), ("dev/bleu", bleu), ("dev/chrf", chrf)):
                writer.add_scalar(tag, value, step)
            if attention is not None and attention.best.attention is not None and attention.best.pieces:
                writer.file_writer.add_summary(attention_image("dev/attention", attention, step), step)
            writer.flush()

        self._guarded(write)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def close(self) -> None:
        self._guarded(lambda writer: writer.close())
        self.writer = None

    def _write_config(self, config: Config, step: int) -> None:
        from torch.utils.tensorboard.summary import hparams

        experiment, session_start, _ = hparams(hyperparameters(config), {"dev/bleu": 0.0, "dev/chrf": 0.0})
        self.writer.file_writer.add_summary(experiment, step)
        self.writer.file_writer.add_summary(session_start, step)
        self.writer.add_text("config", "```\n" + config.to_yaml() + "```", step)

    def _guarded(self, action: Callable[[Any], Any]) -> None:
        if self.writer is None:
            return
        try:
            action(self.writer)
        except Exception as exc:  # noqa: BLE001 - TensorBoard never fails a training
            self._stop(exc)

    def _stop(self, exc: BaseException) -> None:
        """Warn once, close quietly, write nothing more."""
        self.log.info(f"warning: TensorBoard logging stopped ({type(exc).__name__}: {exc}); training goes on "
                      "and metrics.csv keeps the record")
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the same failure again
                pass


def attention_image(tag: str, result: Any, step: int) -> Any:
    """An image summary of `result`'s attention (last decoder layer, mean of its heads) as a PNG."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    from seq2seq.plots import attention_figure

    best = result.best
    weights = best.attention[:, -1].mean(dim=1)  # (tgt_len + 1, layers, heads, src_len) -> (tgt_len + 1, src_len)
    title = f"{result.source[:80]}\n→ {best.text[:80]}\n(step {step}, last decoder layer, mean of heads)"
    figure = attention_figure(weights, result.source_pieces, best.pieces, title, result.source_symbols, best.symbols)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():  # e.g. "Glyph ... missing from font"
            warnings.simplefilter("ignore")
            figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    finally:
        import matplotlib.pyplot as plt  # after attention_figure has chosen the Agg backend

        plt.close(figure)
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
    return Summary(value=[Summary.Value(tag=tag, image=image)])
