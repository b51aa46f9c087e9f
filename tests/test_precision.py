"""16-bit training (train.precision): the loss in bf16, the master/working copies, fp16's loss
scaling, the cheap dropout, and runs that train, save float32 and resume across precisions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from seq2seq.checkpoint import load_checkpoint
from seq2seq.models.dropout import Dropout, dropout
from seq2seq.special_tokens import PAD_ID
from seq2seq.training.loss import projected_cross_entropy, token_loss_sum
from seq2seq.training.precision import LossScaler, MixedPrecision
from test_train import make_toy_data, metrics_rows, run_training, toy_config


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("toy") / "data")


# ---------------------------------------------------------------------------------------------
# The loss in 16 bits


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("block_elements", [64, 120])  # 1 row per block; 3, the last block shorter
def test_projected_cross_entropy_in_16_bits_is_close_to_float32(dtype: torch.dtype, block_elements: int,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr("seq2seq.training.loss.BLOCK_ELEMENTS", block_elements)  # several blocks ...
    monkeypatch.setattr("seq2seq.training.loss.ADD_ROWS", 7)  # ... each added into the weight's gradient in slices
    torch.manual_seed(0)
    states, weight = torch.randn(4, 6, 16), torch.randn(40, 16) * 0.3
    gold = torch.randint(4, 40, (4, 6))
    gold[1, 4:] = PAD_ID
    low_states = states.to(dtype).requires_grad_()
    low_weight = weight.to(dtype).requires_grad_()
    loss = projected_cross_entropy(low_states, low_weight, gold, 0.1, scale=0.5)
    loss.backward()
    # the reference: float32 arithmetic on the same (rounded) inputs
    ref_states, ref_weight = low_states.detach().float().requires_grad_(), low_weight.detach().float().requires_grad_()
    expected = token_loss_sum(ref_states @ ref_weight.t(), gold, 0.1) * 0.5
    expected.backward()
    assert loss.dtype == torch.float32  # the loss itself is summed in float32
    assert low_states.grad.dtype == dtype and low_weight.grad.dtype == dtype
    torch.testing.assert_close(loss, expected, rtol=1e-2, atol=0.0)
    scale = ref_states.grad.abs().max().item()
    torch.testing.assert_close(low_states.grad.float(), ref_states.grad, rtol=0.0, atol=0.02 * scale)
    scale = ref_weight.grad.abs().max().item()
    torch.testing.assert_close(low_weight.grad.float(), ref_weight.grad, rtol=0.0, atol=0.02 * scale)
    assert low_states.grad[1, 4:].abs().sum() == 0


# ---------------------------------------------------------------------------------------------
# Master weights and the working copy


def tied_model() -> nn.Module:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    model[1].weight = model[0].weight  # tied, as the NMT models' embeddings are
    return model


def test_the_working_copy_is_16_bit_keeps_ties_and_follows_the_master() -> None:
    master = tied_model()
    mixed = MixedPrecision(master, "bf16")
    work = mixed.work
    assert all(p.dtype == torch.bfloat16 for p in work.parameters())
    assert all(p.dtype == torch.float32 for p in master.parameters())
    assert work[1].weight is work[0].weight
    with torch.no_grad():
        master[0].weight.add_(1.0)
    mixed.weights_to_work()
    torch.testing.assert_close(work[0].weight.float(), master[0].weight, rtol=1e-2, atol=1e-2)


def test_gradients_reach_the_master_in_float32_and_the_working_ones_are_zeroed() -> None:
    master = tied_model()
    mixed = MixedPrecision(master, "bf16")
    out = mixed.work(torch.tensor([[1, 2, 3]]))
    out.float().sum().backward()
    work_grad = mixed.work[0].weight.grad.float().clone()
    mixed.gradients_to_master()
    assert master[0].weight.grad.dtype == torch.float32
    torch.testing.assert_close(master[0].weight.grad, work_grad)
    assert mixed.work[0].weight.grad.abs().sum() == 0


def test_fp16_gradients_are_divided_by_the_loss_scale() -> None:
    master = tied_model()
    mixed = MixedPrecision(master, "fp16")
    assert mixed.loss_scale == 2.0 ** 15
    mixed.work[0].weight.grad = torch.full_like(mixed.work[0].weight, 2.0 ** 14)
    mixed.gradients_to_master()
    assert torch.all(master[0].weight.grad == 0.5)


def test_fp32_needs_no_copy() -> None:
    master = tied_model()
    mixed = MixedPrecision(master, "fp32")
    assert mixed.work is master and not mixed.enabled and mixed.loss_scale == 1.0


def test_the_loss_scale_halves_on_overflow_and_grows_after_a_clean_stretch() -> None:
    scaler = LossScaler(initial=1024.0, growth_interval=3, min_scale=1.0)
    assert scaler.update(finite=False) is False and scaler.scale == 512.0  # skipped
    assert all(scaler.update(finite=True) for _ in range(2)) and scaler.scale == 512.0
    assert scaler.update(finite=True) and scaler.scale == 1024.0  # 3 clean updates in a row
    restored = LossScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict() == {"scale": 1024.0, "good_updates": 0, "skipped": 1}


def test_at_the_smallest_scale_an_overflow_is_a_divergence_not_an_endless_skip() -> None:
    scaler = LossScaler(initial=2.0, min_scale=1.0)
    assert scaler.update(finite=False) is False and scaler.scale == 1.0
    assert scaler.update(finite=False) is True  # the trainer then reports the divergence


# ---------------------------------------------------------------------------------------------
# Dropout


def test_dropout_drops_p_scales_the_rest_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    states = torch.ones(400, 500)
    dropped = dropout(states, 0.1)
    kept = dropped != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.005
    assert torch.allclose(dropped[kept], torch.tensor(65536 / (65536 - round(0.1 * 65536))))
    assert abs(dropped.mean().item() - 1.0) < 0.01
    # each of the four 16-bit lanes of a random word is uniform (a biased top lane would show here)
    lanes = kept.view(-1)[: 400 * 500 // 4 * 4].view(-1, 4).float().mean(0)
    assert torch.all((lanes - 0.9).abs() < 0.01), lanes


def test_dropout_is_the_identity_in_eval_mode_and_its_gradient_uses_the_same_mask() -> None:
    layer = Dropout(0.3)
    states = torch.randn(50, 20, dtype=torch.bfloat16, requires_grad=True)
    layer.eval()
    assert layer(states) is states
    layer.train()
    out = layer(states)
    assert out.dtype == torch.bfloat16
    out.sum().backward()
    assert torch.equal(states.grad != 0, out != 0)
    assert torch.equal(dropout(states, 0.0), states)


# ---------------------------------------------------------------------------------------------
# Training runs


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_a_bf16_run_trains_and_saves_float32_weights(family: str, toy_data: Path, tmp_path: Path) -> None:
    model = {"type": "rnn", "encoder_layers": 1, "decoder_layers": 1, "embedding_dim": 32,
             "hidden_size": 32} if family == "rnn" else None
    run_training(toy_config(toy_data, model=model, max_steps=20, precision="bf16"), tmp_path / "run")
    losses = [float(r["train_loss"]) for r in metrics_rows(tmp_path / "run") if r["train_loss"]]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert all(t.dtype == torch.float32 for t in last["model_state"].values() if t.is_floating_point())
    assert last["precision"] == {"precision": "bf16"}
    assert "bf16 on cpu" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


def test_fp16_trains_with_a_loss_scale_that_is_saved(toy_data: Path, tmp_path: Path) -> None:
    run_training(toy_config(toy_data, max_steps=12, precision="fp16"), tmp_path / "run")
    losses = [float(r["train_loss"]) for r in metrics_rows(tmp_path / "run") if r["train_loss"]]
    assert all(math.isfinite(x) for x in losses)
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["precision"]
    assert saved["precision"] == "fp16" and saved["scaler"]["scale"] > 1


def test_bf16_and_fp32_runs_learn_alike(toy_data: Path, tmp_path: Path) -> None:
    final = {}
    for precision in ("fp32", "bf16"):
        run_training(toy_config(toy_data, max_steps=30, precision=precision), tmp_path / precision)
        final[precision] = [float(r["dev_loss"]) for r in metrics_rows(tmp_path / precision) if r["dev_loss"]][-1]
    assert abs(final["bf16"] - final["fp32"]) < 0.05 * final["fp32"], final


def test_a_run_saved_under_one_precision_resumes_under_another(toy_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(toy_config(toy_data, max_steps=10, precision="fp16"), run_dir)
    run_training(toy_config(toy_data, max_steps=20, precision="bf16"), run_dir, resume=True)
    last = load_checkpoint(run_dir / "last.pt")
    assert last["train_state"]["step"] == 20 and last["precision"] == {"precision": "bf16"}
    run_training(toy_config(toy_data, max_steps=25, precision="fp32"), run_dir, resume=True)
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == 25


def test_the_primitive_caches_are_bounded_unless_the_user_chose_a_size(monkeypatch) -> None:
    from seq2seq.allocator import PRIMITIVE_CACHE_VARIABLES, bound_primitive_caches

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "500")
    bound_primitive_caches(32)
    import os

    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "32"
    assert os.environ["LRU_CACHE_CAPACITY"] == "500"
    assert set(PRIMITIVE_CACHE_VARIABLES) == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"}
