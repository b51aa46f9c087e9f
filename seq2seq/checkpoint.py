"""Self-contained checkpoints: write atomically, read with clear refusals, load for inference.

A checkpoint is a dict saved with `torch.save`:

    format          "s2s-checkpoint"
    format_version  FORMAT_VERSION
    config          the resolved Config as a plain dict
    model_state     the model's state_dict
    spm_src, spm_tgt  SentencePiece model protos (bytes; the same bytes when the vocab is joint)
    ...             training state added by the trainer (optimizer, scheduler, step, RNG, ...)

so one file is enough to translate. A run directory (`runs/<name>/`) holds `best.pt` and
`last.pt`; wherever a checkpoint is expected a run directory is accepted too.
"""

from __future__ import annotations

import errno
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seq2seq.config import Config, config_from_dict
from seq2seq.config_history import upgrade_stored
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.entities import Protector
from seq2seq.errors import UserError
from seq2seq.files import atomic_write

FORMAT = "s2s-checkpoint"
FORMAT_VERSION = 1
RUNS_ROOT = Path("runs")


def make_payload(config: Config, model: torch.nn.Module, src_tokenizer: Tokenizer,
                 tgt_tokenizer: Tokenizer, **training_state: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "model_state": model.state_dict(),
        "spm_src": src_tokenizer.to_bytes(),
        "spm_tgt": tgt_tokenizer.to_bytes(),
        **training_state,
    }


def first_non_finite(state: dict[str, Any]) -> str | None:
    """The name of the first floating-point tensor of `state` holding NaN or inf, else None."""
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` atomically: a failed write leaves the previous file at `path` whole.

    Weights holding NaN or inf (a diverged training) are never written: nothing could translate
    with them, and they would replace a checkpoint that can.
    """
    bad = first_non_finite(payload.get("model_state", {}))
    if bad is not None:
        raise UserError(f"{path}: not written: its weights are not finite ({bad} holds NaN or inf), the training "
                        "diverged; lower train.lr, lengthen train.warmup_steps or set train.clip_norm")

    def write(tmp: Path) -> None:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch's zip writer reports a failed write (full disk, quota) so
            raise OSError(errno.EIO, f"the write failed; is the disk full? ({type(exc).__name__} in torch.save)") from None

    atomic_write(Path(path), write)


def keep_weights(run_dir: Path, step: int, keep: int, payload: dict[str, Any]) -> None:
    """Save `payload` as run_dir/step-<step>.pt and delete all but the newest `keep` of them."""
    save_checkpoint(run_dir / f"step-{step}.pt", payload)
    for old in step_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)


def step_checkpoints(run_dir: Path) -> list[Path]:
    """The run's step-<N>.pt files (train.keep_last), oldest first."""
    found = [(int(p.stem.removeprefix("step-")), p) for p in run_dir.glob("step-*.pt")
             if p.stem.removeprefix("step-").isdigit()]
    return [path for _, path in sorted(found)]


def average_checkpoints(paths: list[Path]) -> dict[str, Any]:
    """One checkpoint whose weights are the mean of `paths`' weights (same model and vocabulary).

    Config, vocabulary and the other fields come from the last of `paths`; `averaged_from`
    names them all. A checkpoint of another model or vocabulary is a UserError naming it. One
    checkpoint is in memory at a time beside the running sum (memory does not grow with their
    number); on a terminal a bar counts them.
    """
    from tqdm import tqdm

    newest = load_checkpoint(paths[-1])
    sums = {name: tensor.double() for name, tensor in newest["model_state"].items() if tensor.is_floating_point()}
    read = {len(paths) - 1: str(newest["path"])}
    with tqdm(total=len(paths), unit=" checkpoints", file=sys.stderr, disable=not sys.stderr.isatty(),
              leave=False) as bar:
        bar.update(1)
        for index, path in enumerate(paths[:-1]):
            payload = load_checkpoint(path)
            if (payload["config"]["model"] != newest["config"]["model"] or payload["spm_src"] != newest["spm_src"]
                    or payload["spm_tgt"] != newest["spm_tgt"]
                    or payload["model_state"].keys() != newest["model_state"].keys()):
                raise UserError(f"{payload['path']}: another model or vocabulary than {newest['path']}; "
                                "only checkpoints of one training run can be averaged")
            for name, total in sums.items():
                total += payload["model_state"][name].double()
            read[index] = str(payload["path"])
            del payload
            bar.update(1)
    state = {name: (sums[name] / len(paths)).to(tensor.dtype) if name in sums else tensor
             for name, tensor in newest["model_state"].items()}
    averaged = {key: value for key, value in newest.items()
                if key not in ("path", "optimizer", "schedule", "rng", "train_state", "ema")}
    averaged.update(model_state=state, kind="averaged", averaged_from=[read[i] for i in range(len(paths))])
    return averaged


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or a run directory -> its best.pt (else last.pt)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        if (path / "s2s_export.json").is_file():  # export.ct2.EXPORT_INFO (that module imports this one)
            if not (path / "model.bin").is_file():
                raise UserError(f"{path}: a CTranslate2 export missing its model.bin; export the run again "
                                f"(s2s export -o {path} --force)")
            raise UserError(f"{path}: a CTranslate2 export (s2s export), not a run: translate, eval and serve take it; "
                            "give this command the run directory or checkpoint it was exported from")
        raise UserError(f"{path}: run directory holds no best.pt or last.pt; train a model with "
                        "`s2s train --config ...` first")
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint or run directory")
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint file; a truncated or foreign file is a UserError."""
    path = resolve_checkpoint_path(path)
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning would precede the one line
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:  # not readable by this user, an I/O error ...
        raise UserError(f"{path}: cannot read the checkpoint ({exc.strerror or type(exc).__name__})") from None
    except Exception as exc:  # truncated zip, not a torch file, unpickling refused ...
        raise UserError(f"{path}: unreadable checkpoint (truncated or not written by s2s): "
                        f"{type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not an s2s checkpoint")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format version {version}, but this s2s reads version "
                        f"{FORMAT_VERSION}; retrain or use the s2s version that wrote it")
    state = payload.get("model_state")
    bad = first_non_finite(state) if isinstance(state, dict) else None
    if bad is not None:  # a diverged training's weights: every translation would be empty or fail
        raise UserError(f"{path}: the checkpoint holds non-finite weights (NaN or inf, first in {bad}), as a "
                        "diverged training leaves them; use an earlier checkpoint or retrain with a lower train.lr")
    payload["path"] = str(path)
    if "config" in payload:
        payload["config"] = upgrade_stored(payload["config"])  # keys renamed since it was written: their new names
    return payload


@dataclass
class InferenceModel:
    """Everything needed to translate: model (eval mode), config and tokenizers."""

    model: Any  # seq2seq.models.base.Seq2SeqModel
    config: Config
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    path: Path
    protector: Protector | None = None  # train.protect_entities: which words translation protects


def model_from_payload(payload: dict[str, Any]) -> InferenceModel:
    from seq2seq.models import build_model  # models import torch-heavy code; keep it lazy

    where = payload.get("path", "checkpoint")
    lacking = [key for key in ("config", "model_state", "spm_src", "spm_tgt") if key not in payload]
    if lacking:  # an s2s file that is no model (or one a tool stripped)
        raise UserError(f"{where}: an s2s checkpoint without {', '.join(lacking)}, which translating needs; "
                        "use best.pt, last.pt or a step-<N>.pt that training wrote")
    config = config_from_dict(payload["config"], where=f"{where} (stored config)", stored=True)
    src_tok = Tokenizer(payload["spm_src"], origin=f"{where} (source vocabulary)")
    tgt_tok = src_tok if payload["spm_src"] == payload["spm_tgt"] and config.data.joint_vocab \
        else Tokenizer(payload["spm_tgt"], origin=f"{where} (target vocabulary)")
    model = build_model(config.model, src_tok.vocab_size, tgt_tok.vocab_size, config.data.joint_vocab)
    mismatch = weight_mismatch(model.state_dict(), payload["model_state"])
    if mismatch:
        raise UserError(f"{where}: its weights do not fit the model its stored config describes ({mismatch}); "
                        "the file was changed after s2s wrote it: use the checkpoint as training saved it")
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, TypeError, AttributeError) as exc:  # a value that is no tensor ...
        raise UserError(f"{where}: unreadable weights ({type(exc).__name__}); use the checkpoint as training "
                        "saved it") from None
    model.eval()
    # "placeholders": the protector's state, under the feature's old name (checkpoints of every release)
    try:
        protector = Protector.from_state(payload["placeholders"]) if payload.get("placeholders") else None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{where}: its placeholders (the entity state) are damaged; use the checkpoint as training "
                        "saved it") from None
    return InferenceModel(model, config, src_tok, tgt_tok, Path(where), protector)


def weight_mismatch(expected: dict[str, Any], state: Any) -> str | None:
    """What differs between a model's state_dict and a checkpoint's weights, in a few words; None if nothing."""
    if not isinstance(state, dict):
        return "no weights"
    shapes = [f"{name} is {tuple(state[name].shape)}, the config makes {tuple(tensor.shape)}"
              for name, tensor in expected.items()
              if isinstance(state.get(name), torch.Tensor) and state[name].shape != tensor.shape]
    missing = [name for name in expected if name not in state]
    extra = [name for name in state if name not in expected]
    parts = [f"{len(names)} {what}: {', '.join(names[:2])}{', ...' if len(names) > 2 else ''}"
             for what, names in (("of another shape", shapes), ("missing", missing), ("unexpected", extra)) if names]
    return "; ".join(parts) or None


def load_for_inference(path: str | Path) -> InferenceModel:
    return model_from_payload(load_checkpoint(path))


def latest_run(runs_root: Path = RUNS_ROOT) -> Path:
    """The run directory under `runs/` whose checkpoint was written most recently."""
    candidates = [p for p in runs_root.glob("*/*.pt") if p.name in ("best.pt", "last.pt")]
    if not candidates:
        raise UserError(f"no trained model found under {runs_root}/; pass --model RUN_DIR_OR_CHECKPOINT "
                        "or train one with `s2s train --config ...`")
    return max(candidates, key=lambda p: p.stat().st_mtime).parent


def resolve_model(model: Path | None) -> Path:
    """--model, or the most recent run (announced on stderr)."""
    if model is not None:
        return model
    run = latest_run()
    print(f"using the most recent run: {run} (choose another with --model)", file=sys.stderr)
    return run
