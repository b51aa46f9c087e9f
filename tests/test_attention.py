"""Attention against its formulas: masks, normalisation, fast path, heads, padding."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.models.attention import (
    DotProductAttention,
    MultiHeadAttention,
    causal_mask,
    masked_softmax,
    scaled_dot_product_attention,
)


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)


def padding_mask(lengths: list[int], max_len: int) -> torch.Tensor:
    """(batch, max_len) bool, True at real positions."""
    return torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]


# -- Luong dot-product attention ------------------------------------------------------------


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_weights_are_a_distribution_over_real_positions(score: str) -> None:
    attention = DotProductAttention(8, score)
    encoder_states = torch.randn(3, 6, 8)
    src_mask = padding_mask([6, 4, 1], 6)
    context, weights = attention(torch.randn(3, 5, 8), encoder_states, src_mask)

    assert context.shape == (3, 5, 8) and weights.shape == (3, 5, 6)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    assert (weights.masked_select(~src_mask[:, None, :].expand_as(weights)) == 0).all()
    torch.testing.assert_close(context, weights @ encoder_states)


def test_luong_scores_follow_the_formulas() -> None:
    h_t, h_s = torch.randn(1, 1, 4), torch.randn(1, 3, 4)
    mask = torch.ones(1, 3, dtype=torch.bool)
    _, dot_weights = DotProductAttention(4, "dot")(h_t, h_s, mask)
    torch.testing.assert_close(dot_weights[0, 0], torch.softmax(h_s[0] @ h_t[0, 0], dim=0))

    general = DotProductAttention(4, "general")
    w_a = general.key_proj.weight  # score = h_t^T W_a h_s
    _, general_weights = general(h_t, h_s, mask)
    torch.testing.assert_close(general_weights[0, 0], torch.softmax(h_t[0, 0] @ w_a @ h_s[0].T, dim=0))


def test_scaled_luong_scores_are_divided_by_the_square_root_of_the_width() -> None:
    h_t, h_s = torch.randn(1, 1, 16) * 3, torch.randn(1, 5, 16) * 3
    mask = torch.ones(1, 5, dtype=torch.bool)
    _, weights = DotProductAttention(16, "dot", scale=True)(h_t, h_s, mask)
    torch.testing.assert_close(weights[0, 0], torch.softmax(h_s[0] @ h_t[0, 0] / 4.0, dim=0))
    general = DotProductAttention(16, "general", scale=True)
    _, weights = general(h_t, h_s, mask)
    torch.testing.assert_close(weights[0, 0], torch.softmax(h_t[0, 0] @ general.key_proj.weight @ h_s[0].T / 4.0, dim=0))


def test_rnn_attention_is_scaled_by_default_but_not_in_models_saved_before_the_key() -> None:
    from seq2seq.config import config_from_dict
    from seq2seq.models import build_model

    new = config_from_dict({"data": {"path": "c.tsv"}, "model": {"type": "rnn", "hidden_size": 16, "embedding_dim": 16}})
    assert new.model.attention_scale is True
    assert build_model(new.model, 50, 50, True).decoder.attention.scale == pytest.approx(0.25)
    old = config_from_dict({"data": {"path": "c.tsv"}, "model": {"type": "rnn", "hidden_size": 16, "embedding_dim": 16}}, stored=True)
    assert old.model.attention_scale is False  # a checkpoint's config without the key
    assert build_model(old.model, 50, 50, True).decoder.attention.scale is None
    kept = config_from_dict({"data": {"path": "c.tsv"}, "model": {"type": "rnn", "attention_scale": True}}, stored=True)
    assert kept.model.attention_scale is True


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_one_step_equals_all_steps(score: str) -> None:
    attention = DotProductAttention(8, score)
    queries, encoder_states = torch.randn(2, 4, 8), torch.randn(2, 5, 8)
    src_mask = padding_mask([5, 3], 5)
    all_context, all_weights = attention(queries, encoder_states, src_mask)
    keys = attention.keys(encoder_states)
    for t in range(4):
        context, weights = attention(queries[:, t : t + 1], encoder_states, src_mask, keys=keys)
        torch.testing.assert_close(context, all_context[:, t : t + 1])
        torch.testing.assert_close(weights, all_weights[:, t : t + 1])


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_output_ignores_extra_padding(score: str) -> None:
    attention = DotProductAttention(8, score)
    queries, encoder_states = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    context, weights = attention(queries, encoder_states, padding_mask([4], 4))
    padded_states = torch.cat([encoder_states, torch.randn(1, 3, 8)], dim=1)  # garbage at padding
    padded_context, padded_weights = attention(queries, padded_states, padding_mask([4], 7))
    torch.testing.assert_close(padded_context, context)
    torch.testing.assert_close(padded_weights[..., :4], weights)
    assert (padded_weights[..., 4:] == 0).all()


# -- scaled dot-product attention -----------------------------------------------------------


def test_masked_softmax_fully_masked_row_is_zero_not_nan() -> None:
    scores = torch.randn(2, 3)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    weights = masked_softmax(scores, mask)
    assert not weights.isnan().any()
    assert (weights[1] == 0).all() and weights[0, 1] == 0
    torch.testing.assert_close(weights[0].sum(), torch.tensor(1.0))


def test_written_out_path_is_the_formula() -> None:
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    output, weights = scaled_dot_product_attention(q, k, v, need_weights=True)
    expected_weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(output, expected_weights @ v)


def _mask(name: str, q_len: int, k_len: int = 7) -> torch.Tensor | None:
    """Masks of every supported kind for a batch of 2 with k_len keys."""
    key_padding = padding_mask([k_len, 4], k_len)[:, None, None, :]  # (batch, 1, 1, k_len)
    if name == "bool":
        return key_padding
    if name == "additive":
        return torch.zeros(2, 1, q_len, k_len).masked_fill(~key_padding, float("-inf"))
    if name == "empty_row":
        mask = torch.ones(2, 1, q_len, k_len, dtype=torch.bool)
        mask[1, 0, 2] = False  # query 2 of sentence 1 may see nothing
        return mask
    return None


@pytest.mark.parametrize("mask_name", ["none", "bool", "additive", "empty_row"])
@pytest.mark.parametrize("causal", [False, True])
def test_fast_path_equals_written_out_path(mask_name: str, causal: bool) -> None:
    q_len = 7 if causal else 5  # causal attention is self-attention: q_len == k_len
    mask = _mask(mask_name, q_len)
    q, k, v = torch.randn(2, 3, q_len, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    fast, none = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    slow, weights = scaled_dot_product_attention(q, k, v, mask, need_weights=True, causal=causal)
    assert none is None and not slow.isnan().any() and not fast.isnan().any()
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    if mask_name == "empty_row":
        assert (weights[1, :, 2] == 0).all() and (slow[1, :, 2] == 0).all()
    if mask_name in ("bool", "additive"):
        assert (weights[1, ..., 4:] == 0).all()


@pytest.mark.parametrize("mask_name", ["none", "bool", "additive", "empty_row"])
@pytest.mark.parametrize("causal", [False, True])
def test_16_bit_training_path_is_the_formula_to_bf16_rounding(mask_name: str, causal: bool) -> None:
    """In bf16 training on a CPU (inputs that need a gradient) attention runs in float32 and its
    output and gradients come back in bf16, the formula's values to bf16 rounding."""
    q_len = 7 if causal else 5
    mask = _mask(mask_name, q_len)
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, q_len, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    low = [t.bfloat16().requires_grad_() for t in (q, k, v)]
    ref = [t.detach().float().requires_grad_() for t in low]  # float32 arithmetic on the same inputs
    out, none = scaled_dot_product_attention(*low, mask, causal=causal)
    expected, weights = scaled_dot_product_attention(*ref, mask, need_weights=True, causal=causal)
    assert none is None and out.dtype == torch.bfloat16 and not out.isnan().any()
    torch.testing.assert_close(out.float(), expected, atol=0.03, rtol=0.03)
    upstream = torch.randn_like(expected)
    out.backward(upstream.bfloat16())
    expected.backward(upstream)
    for ours, theirs in zip(low, ref):
        assert not ours.grad.isnan().any()
        torch.testing.assert_close(ours.grad.float(), theirs.grad, atol=0.05, rtol=0.05)
    if mask_name == "empty_row":
        assert (out[1, :, 2] == 0).all()


@pytest.mark.parametrize("mask_name", ["none", "bool", "additive", "empty_row"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16_bit_decoding_step_is_the_formula_to_16_bit_rounding(mask_name: str, dtype: torch.dtype) -> None:
    """One query per row in 16 bits on a CPU (a decoding step) takes its own path: the formula's
    values to 16-bit rounding, padded keys ignored whatever they hold, a row that may see nothing 0."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 1, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    key_padding = padding_mask([7, 4], 7)[:, None, None, :]  # (batch, 1, 1, keys): sentence 1 has 4
    mask = {"none": None, "bool": key_padding, "empty_row": key_padding & torch.tensor([True, False])[:, None, None, None],
            "additive": torch.zeros(2, 1, 1, 7).masked_fill(~key_padding, float("-inf"))}[mask_name]
    low = [t.to(dtype) for t in (q, k, v)]
    out, none = scaled_dot_product_attention(*low, mask)
    expected, _ = scaled_dot_product_attention(*(t.float() for t in low), mask, need_weights=True)
    assert none is None and out.dtype == dtype and not out.isnan().any()
    torch.testing.assert_close(out.float(), expected, atol=0.02, rtol=0.02)
    if mask_name in ("bool", "additive"):
        k[1, :, 4:], v[1, :, 4:] = 1e3, -1e3  # what padding holds changes nothing
        again, _ = scaled_dot_product_attention(*(t.to(dtype) for t in (q, k, v)), mask)
        assert torch.equal(again, out)
    if mask_name == "empty_row":
        assert (out[1] == 0).all()


def test_causal_mask_hides_the_future() -> None:
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    q, k, v = torch.randn(1, 1, 4, 8), torch.randn(1, 1, 4, 8), torch.randn(1, 1, 4, 8)
    _, weights = scaled_dot_product_attention(q, k, v, need_weights=True, causal=True)
    assert (weights[0, 0].triu(diagonal=1) == 0).all()


# -- multi-head attention -------------------------------------------------------------------


def test_multi_head_equals_heads_computed_one_by_one() -> None:
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W^O with head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)."""
    d_model, heads, d_head = 12, 3, 4
    mha = MultiHeadAttention(d_model, heads)
    query, memory = torch.randn(2, 5, d_model), torch.randn(2, 6, d_model)
    output, _ = mha(query, memory)

    w_q, w_k, w_v = mha.qkv_proj.weight.split(d_model)
    b_q, b_k, b_v = mha.qkv_proj.bias.split(d_model)
    head_outputs = []
    for i in range(heads):
        rows = slice(i * d_head, (i + 1) * d_head)
        q = query @ w_q[rows].T + b_q[rows]
        k = memory @ w_k[rows].T + b_k[rows]
        v = memory @ w_v[rows].T + b_v[rows]
        head_outputs.append(torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d_head), -1) @ v)
    expected = mha.out_proj(torch.cat(head_outputs, dim=-1))
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("use_mask", [False, True])
def test_multi_head_fast_path_equals_written_out_path(use_mask: bool) -> None:
    mha = MultiHeadAttention(16, 4).eval()
    query, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    mask = padding_mask([7, 3], 7)[:, None, None, :] if use_mask else None
    fast, no_weights = mha(query, memory, mask)
    slow, weights = mha(query, memory, mask, need_weights=True)
    assert no_weights is None and weights.shape == (2, 4, 5, 7)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    # and for self-attention with the causal mask
    fast, _ = mha(query, causal=True)
    slow, _ = mha(query, causal=True, need_weights=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_multi_head_weights_and_padding() -> None:
    mha = MultiHeadAttention(16, 4).eval()
    query, memory = torch.randn(1, 3, 16), torch.randn(1, 4, 16)
    output, weights = mha(query, memory, padding_mask([4], 4)[:, None, None, :], need_weights=True)

    padded_memory = torch.cat([memory, torch.randn(1, 2, 16)], dim=1)
    mask = padding_mask([4], 6)[:, None, None, :]
    for need_weights in (False, True):
        padded_output, padded_weights = mha(query, padded_memory, mask, need_weights=need_weights)
        torch.testing.assert_close(padded_output, output, atol=1e-6, rtol=1e-5)
    assert (padded_weights >= 0).all()
    torch.testing.assert_close(padded_weights.sum(-1), torch.ones(1, 4, 3))
    assert (padded_weights[..., 4:] == 0).all()
    torch.testing.assert_close(padded_weights[..., :4], weights)


def test_multi_head_causal_self_attention_ignores_later_positions() -> None:
    mha = MultiHeadAttention(16, 4).eval()
    states = torch.randn(1, 6, 16)
    changed = states.clone()
    changed[:, 3:] = torch.randn(1, 3, 16)
    output, _ = mha(states, causal=True)
    changed_output, _ = mha(changed, causal=True)
    torch.testing.assert_close(changed_output[:, :3], output[:, :3])
    assert not torch.allclose(changed_output[:, 3:], output[:, 3:])


def test_multi_head_cached_steps_equal_causal_self_attention() -> None:
    mha = MultiHeadAttention(16, 4).eval()
    states = torch.randn(2, 5, 16)
    full, _ = mha(states, causal=True)
    key_cache, value_cache = torch.zeros(2, 4, 8, 4), torch.zeros(2, 4, 8, 4)
    for position in range(5):
        step = mha.cached_self_attention(states[:, position : position + 1], key_cache, value_cache, position)
        torch.testing.assert_close(step, full[:, position : position + 1], atol=1e-6, rtol=1e-5)


def test_multi_head_memory_keys_values_computed_once_are_reused() -> None:
    mha = MultiHeadAttention(16, 4).eval()
    query, memory = torch.randn(2, 3, 16), torch.randn(2, 6, 16)
    keys, values = mha.project_kv(memory)
    assert keys.shape == values.shape == (2, 4, 6, 4)
    output, _ = mha(query, memory)
    for t in range(3):
        step, _ = mha.attend(mha.project_query(query[:, t : t + 1]), keys, values)
        torch.testing.assert_close(step, output[:, t : t + 1], atol=1e-6, rtol=1e-5)


def test_an_rnn_run_saved_before_the_key_does_not_resume_with_scaled_attention() -> None:
    from seq2seq.config import config_from_dict
    from seq2seq.errors import UserError
    from seq2seq.training.resume import check_resumable

    config = config_from_dict({"data": {"path": "c.tsv"}, "model": {"type": "rnn"}})
    stored = config.to_dict()
    del stored["model"]["attention_scale"]  # as a last.pt of an earlier version holds it
    payload = {"config": stored, "optimizer": {}, "train_state": {}, "path": "runs/old/last.pt"}
    with pytest.raises(UserError, match="model.attention_scale"):
        check_resumable(payload, config)
    unscaled = config_from_dict({"data": {"path": "c.tsv"}, "model": {"type": "rnn", "attention_scale": False}})
    check_resumable(payload, unscaled)  # the old behaviour, asked for: resumes
