"""`train.ema_decay`: the moving average of the weights, its arithmetic, where it is used and saved.

(Its exact resume after a kill is in test_resume.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train import assert_same_weights, make_toy_data, run_training, toy_config, weights

from seq2seq.checkpoint import load_checkpoint
from seq2seq.errors import UserError
from seq2seq.training.ema import EMA, averaged


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    return make_toy_data(tmp_path_factory.mktemp("ema") / "data")


def test_two_updates_follow_the_warm_up_corrected_formula() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    ema = EMA(model, decay=0.9)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    w1 = {n: p.detach().clone() for n, p in model.named_parameters()}
    ema.update()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-2.0)
    w2 = {n: p.detach().clone() for n, p in model.named_parameters()}
    ema.update()
    d2 = 2 / 11
    for i, name in enumerate(ema.names):
        a1 = 0.1 * w0[name] + 0.9 * w1[name]
        torch.testing.assert_close(ema.averages[i], d2 * a1 + (1 - d2) * w2[name])
    assert ema.updates == 2
    ema.updates = 500
    assert ema.current_decay() == 0.9  # the configured decay once (1 + n) / (10 + n) passes it


def test_swapping_in_the_average_gives_the_trained_weights_back_exactly() -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update()
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="inside"):
        with averaged(ema):
            for i, p in enumerate(model.parameters()):
                assert torch.equal(p, ema.averages[i]) and not torch.equal(p, trained[ema.names[i]])
            raise RuntimeError("inside")
    assert_same_weights(model.state_dict(), trained)
    with averaged(None):  # train.ema_decay 0: nothing happens
        assert_same_weights(model.state_dict(), trained)


def test_state_dict_round_trip_is_exact() -> None:
    torch.manual_seed(2)
    model = torch.nn.Linear(5, 3)
    ema = EMA(model, decay=0.99)
    for _ in range(3):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        ema.update()
    state = ema.state_dict()
    restored = EMA(torch.nn.Linear(5, 3), decay=0.99)
    restored.load_state_dict(state)
    assert restored.updates == 3
    assert all(torch.equal(a, b) for a, b in zip(restored.averages, ema.averages))


def test_validation_best_pt_and_step_files_hold_the_average_last_pt_both(toy_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # one validation, at the last step: best.pt and step-12.pt are the average at step 12
    run_training(toy_config(toy_data, max_steps=12, validate_every=12, ema_decay=0.9, keep_last=1), run_dir)
    last = load_checkpoint(run_dir / "last.pt")
    assert last["ema"]["updates"] == 12 and last["ema"]["decay"] == 0.9
    averages = last["ema"]["averages"]
    for name in ("best.pt", "step-12.pt"):
        saved = weights(run_dir / name)
        assert saved.keys() == last["model_state"].keys()
        for key, tensor in averages.items():
            assert torch.equal(saved[key], tensor), (name, key)
            assert not torch.equal(last["model_state"][key], tensor), key  # last.pt: the trained weights
    # resuming with another decay would not continue the same training
    with pytest.raises(UserError, match=r"train.ema_decay: 0.9 -> 0.99"):
        run_training(toy_config(toy_data, max_steps=20, validate_every=12, ema_decay=0.99, keep_last=1),
                     run_dir, resume=True)


def test_off_by_default_costs_nothing(toy_data: Path, tmp_path: Path, monkeypatch) -> None:
    import seq2seq.train as train_module

    def no_ema(*args, **kwargs):
        raise AssertionError("an EMA was made with train.ema_decay 0")

    monkeypatch.setattr(train_module, "EMA", no_ema)
    run_training(toy_config(toy_data, max_steps=6, validate_every=6), tmp_path / "run")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert "ema" not in last
    assert_same_weights(weights(tmp_path / "run" / "best.pt"), last["model_state"])


def test_a_last_pt_from_before_ema_decay_still_resumes(toy_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(toy_config(toy_data, max_steps=4, validate_every=4), run_dir)
    payload = torch.load(run_dir / "last.pt", weights_only=True)
    del payload["config"]["train"]["ema_decay"]  # as an older s2s wrote it
    torch.save(payload, run_dir / "last.pt")
    run_training(toy_config(toy_data, max_steps=6, validate_every=4), run_dir, resume=True)
    assert load_checkpoint(run_dir / "last.pt")["train_state"]["step"] == 6
