"""Issue 33, the models and the Python API: non-finite weights refused at load and never saved,
damaged exports named in one line, an export that obeys s2s's output rules, symbols a user typed
kept as typed, entity rules per language, and the API's arguments checked as the CLI checks them."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint, load_for_inference, model_from_payload, save_checkpoint
from seq2seq.config import DecodeConfig
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.entities import EntityAugmentation, Protector, augmentation_rng, entity_flags, known_words
from seq2seq.entities.symbol_augmentation import SymbolAugmentation
from seq2seq.entities.symbols import NAME_SYMBOLS, NUMBER_SYMBOLS, SYMBOLS
from seq2seq.errors import UserError
from seq2seq.pipeline import TextTranslator
from seq2seq.search import Hypothesis
from seq2seq.special_tokens import BOS_ID, PAD_ID
from seq2seq.translator import Translator
from test_hardening import one_error_line, s2s
from test_train import make_toy_data, run_training, toy_config
from test_translate_eval import corpus_sentences, make_checkpoint, run_cli

N1, N2, D1 = NAME_SYMBOLS[0], NAME_SYMBOLS[1], NUMBER_SYMBOLS[0]
TINY = {"type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1, "decoder_layers": 1,
        "max_positions": 128, "norm": "pre"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", TINY)


@pytest.fixture(scope="module")
def export_dir(run_dir: Path, tmp_path_factory) -> Path:
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import export_ctranslate2

    return export_ctranslate2(run_dir, tmp_path_factory.mktemp("export") / "ct2", "float32", force=False)


def nan_checkpoint(run_dir: Path, path: Path) -> Path:
    """best.pt of `run_dir` with one tensor NaN, as a diverged training would leave it (written with
    torch.save: save_checkpoint refuses it)."""
    payload = load_checkpoint(run_dir / "best.pt")
    payload.pop("path")
    payload["model_state"]["decoder_norm.weight"] = torch.full_like(payload["model_state"]["decoder_norm.weight"],
                                                                    float("nan"))
    torch.save(payload, path)
    return path


# ---------------------------------------------------------------------------------------------
# 1. Non-finite weights


def test_a_checkpoint_with_nan_weights_is_refused_at_load_in_one_line(run_dir, tmp_path, monkeypatch, capsys):
    bad = nan_checkpoint(run_dir, tmp_path / "diverged.pt")
    with pytest.raises(UserError, match=r"diverged\.pt: the checkpoint holds non-finite weights \(NaN or inf, "
                                        r"first in decoder_norm\.weight\)"):
        Translator.load(bad)
    with pytest.raises(UserError, match="non-finite weights"):
        load_for_inference(bad)
    for args in (("translate", "--model", bad, "Bonjour."), ("translate", "--model", bad, "--beam", "1", "Bonjour."),
                 ("translate", "--model", bad, "--n-best", "2", "Bonjour.")):
        one_error_line(run_cli(monkeypatch, capsys, *args), str(bad), "non-finite weights", "decoder_norm.weight")


def test_non_finite_weights_are_never_written(run_dir, tmp_path):
    payload = load_checkpoint(run_dir / "best.pt")
    payload.pop("path")
    target = tmp_path / "best.pt"
    shutil.copyfile(run_dir / "best.pt", target)
    before = target.read_bytes()
    payload["model_state"]["output_proj.weight"] = payload["model_state"]["output_proj.weight"].clone()
    payload["model_state"]["output_proj.weight"][3, 0] = float("inf")
    with pytest.raises(UserError, match=r"best\.pt: not written: its weights are not finite \(output_proj\.weight"):
        save_checkpoint(target, payload)
    assert target.read_bytes() == before  # the good checkpoint stays


def test_training_never_saves_non_finite_weights_as_best(tmp_path, monkeypatch):
    """An update with a finite loss and gradient that leaves a weight NaN (an overflow in the
    optimiser): before, validation scored the NaN model, BLEU 0 beat -inf and best.pt got it."""
    from seq2seq.train import Trainer

    original = Trainer._optimizer_step

    def overflowing(self, loss_sum: float, grad_norm: float) -> None:
        original(self, loss_sum, grad_norm)
        if self.state.step + 1 == 10:  # the update before the first validation
            with torch.no_grad():
                next(self.raw_model.parameters()).fill_(float("nan"))

    monkeypatch.setattr(Trainer, "_optimizer_step", overflowing)
    data = make_toy_data(tmp_path / "data", n_train=100)
    with pytest.raises(UserError, match=r"^training diverged at step 10: the update left weight \S+ NaN or inf"):
        run_training(toy_config(data, max_steps=20, validate_every=10), tmp_path / "run")
    assert not (tmp_path / "run" / "best.pt").exists() and not (tmp_path / "run" / "last.pt").exists()
    assert "diverged at step 10" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# 2. A damaged export


def damaged_copy(export_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(export_dir, copy)
    return copy


@pytest.mark.parametrize("name, content, needle", [
    ("s2s_export.json", b"{not json", "s2s_export.json: unreadable (Expecting property name"),
    ("s2s_export.json", b"\xff\xfe", "s2s_export.json: unreadable ('utf-8' codec"),
    ("s2s_export.json", b"[]", "s2s_export.json: not the description s2s export writes"),
    ("s2s_export.json", b'{"format": "s2s-ctranslate2", "quantization": "float32", "decode": {"beam_size": 0}, '
                        b'"data": {"normalization": "nfkc", "lowercase": false, "src_lang": "fr", "tgt_lang": "en"}}',
     "s2s_export.json: decode.beam_size must be >= 1; got 0"),
    ("model.bin", None, "CTranslate2 cannot load this export"),
    ("spm.tgt.model", b"", "spm.tgt.model: not a valid SentencePiece model"),
])
def test_a_damaged_export_is_one_line_naming_what_is_wrong(export_dir, tmp_path, monkeypatch, capsys, name,
                                                           content, needle):
    from seq2seq.loading import open_translator

    broken = damaged_copy(export_dir, tmp_path)
    whole = (broken / name).read_bytes()
    (broken / name).write_bytes(whole[:len(whole) // 2] if content is None else content)  # None: truncated
    with pytest.raises(UserError, match=None) as info:
        open_translator(broken)
    assert needle in str(info.value) and str(broken) in str(info.value)
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", broken, "Bonjour."), needle)


def test_an_export_where_a_run_is_expected_says_what_it_is(export_dir, tmp_path):
    with pytest.raises(UserError, match="a CTranslate2 export \\(s2s export\\), not a run: translate, eval and serve"):
        load_checkpoint(export_dir)
    broken = damaged_copy(export_dir, tmp_path)
    (broken / "model.bin").unlink()
    with pytest.raises(UserError, match="a CTranslate2 export missing its model.bin; export the run again"):
        Translator.load(broken)


# ---------------------------------------------------------------------------------------------
# 3. The export obeys s2s's output rules


def test_an_export_never_outputs_bos_or_pad(tmp_path):
    """A model whose BOS logit is far above every other: s2s's search never writes BOS (nor PAD);
    the export wrote it, and its translations came out empty."""
    pytest.importorskip("ctranslate2")
    from seq2seq.export.ct2 import CTranslate2Translator, export_ctranslate2

    run = make_checkpoint(tmp_path / "run", TINY)
    loaded = model_from_payload(load_checkpoint(run / "best.pt"))
    model, direction = loaded.model, torch.zeros(TINY["d_model"])
    direction[0] = 1.0
    with torch.no_grad():  # every output state gets `direction`, and only BOS's row reads it, strongly
        model.decoder_norm.bias.copy_(direction)
        model.output_proj.weight[BOS_ID] += 100.0 * direction
    payload = load_checkpoint(run / "best.pt")
    payload.pop("path")
    payload["model_state"] = model.state_dict()
    save_checkpoint(run / "best.pt", payload)
    sentences = ["Bonjour.", "Où est la gare ?", "Il fait beau aujourd'hui."]
    s2s = Translator.load(run, beam=1, max_piece_run=0).translate_batch(sentences)  # as CTranslate2
    ct2 = CTranslate2Translator(export_ctranslate2(run, tmp_path / "ct2", "float32", force=False), beam=1)
    for beam in (1, 3):
        for result in ct2.translate_batch(sentences, beam=beam, n_best=min(beam, 2)):
            for hyp in result.hypotheses:
                assert hyp.tokens and BOS_ID not in hyp.tokens and PAD_ID not in hyp.tokens, result
    # greedy: the same first pieces as s2s's search (which never had BOS to choose)
    for ours, theirs in zip(s2s, ct2.translate_batch(sentences, beam=1)):
        assert theirs.best.tokens[:3] == ours.best.tokens[:3]


# ---------------------------------------------------------------------------------------------
# 4. Symbols a user typed


class Copier(TextTranslator):
    """An engine that writes its source back: what the pipeline does around the model shows alone."""

    max_positions = 256

    def __init__(self, tokenizer: Tokenizer, protector: Protector) -> None:
        self.settings = DecodeConfig(beam_size=1)
        self.src_tokenizer = self.tgt_tokenizer = tokenizer
        self.normalization, self.lowercase, self.elision = "nfkc", False, None
        self.protector = protector

    def _batches(self, lengths: list[int], batch_tokens: int, beam_size: int) -> list[list[int]]:
        return [list(range(len(lengths)))]

    def _search(self, sources, max_lengths, options):
        return [[Hypothesis(ids[:-1], 0.0)] for ids in sources]


@pytest.fixture(scope="module")
def symbol_tokenizer() -> Tokenizer:
    sentences = corpus_sentences() + ["Jane aime Paul. Il a 25 ans. Le 3 septembre, en juin."]
    return Tokenizer(train_sentencepiece(sentences, vocab_size=300, model_type="bpe", character_coverage=1.0,
                                         symbols=SYMBOLS))


@pytest.mark.parametrize("text, protected, originals", [
    ("⦅N1⦆ aime Jane.", f"{N1} aime {N2}.", {N1: "⦅N1⦆", N2: "Jane"}),  # was "⦅N1⦆ aime ⦅N1⦆."
    ("Jane a ⦅D1⦆ ans et 25 chats.", f"{N1} a {N2} ans et {D1} chats.", {N1: "Jane", N2: "⦅D1⦆", D1: "25"}),
    ("Le ⦅T1⦆ septembre.", f"Le {N1} ⦅T1⦆.", {"⦅T1⦆": "septembre", N1: "⦅T1⦆"}),
    ("Un ⦅X1⦆ reste.", "Un ⦅X1⦆ reste.", {}),  # not a symbol: plain text
])
def test_typed_symbols_are_escaped_before_symbols_are_placed(text, protected, originals):
    known = known_words(["le un reste aime a ans et chats"] * 2)
    assert Protector(known, "fr", "en", dates=True).protect(text) == (protected, originals)


@pytest.mark.parametrize("text, expected", [
    ("⦅N1⦆ aime Jane.", "⦅N1⦆ aime Jane."),  # was "Jane aime Jane."
    ("Il a ⦅D1⦆ ans.", "Il a ⦅D1⦆ ans."),  # was "Il a ans." (the typed symbol vanished)
    ("Le ⦅T1⦆ septembre.", "Le ⦅T1⦆ September."),  # was "Le September September."
    ("Jane aime Paul.", "Jane aime Paul."),
])
def test_typed_symbols_come_out_as_typed(symbol_tokenizer, text, expected):
    copier = Copier(symbol_tokenizer, Protector(frozenset(), "fr", "en", dates=True))
    assert copier.translate(text) == expected


def test_without_names_typed_symbols_ride_as_numbers(symbol_tokenizer):
    protector = Protector(frozenset(), "de", "en", names=False)
    assert protector.protect("Anna hat ⦅N1⦆ und 3.") == (f"Anna hat {D1} und {NUMBER_SYMBOLS[1]}.",
                                                         {D1: "⦅N1⦆", NUMBER_SYMBOLS[1]: "3"})
    assert Copier(symbol_tokenizer, protector).translate("Anna hat ⦅N1⦆ und 3.") == "Anna hat ⦅N1⦆ und 3."


# ---------------------------------------------------------------------------------------------
# 5. Entity rules per language


GERMAN = ["Die Bundesrepublik schließt Verträge mit Berlin.", "Anna hat 25 Bücher."]
ENGLISH = ["The Federal Republic signs treaties with Berlin.", "Anna has 25 books."]


def test_a_pair_without_name_rules_protects_digits_only(symbol_tokenizer):
    protector = Protector.for_vocabularies(frozenset(), symbol_tokenizer, symbol_tokenizer, "de", "en")
    assert not protector.names and Protector.for_vocabularies(frozenset(), symbol_tokenizer, symbol_tokenizer,
                                                               "fr", "en").names
    assert protector.protect("Die Bundesrepublik schließt 3 Verträge.") == (
        f"Die Bundesrepublik schließt {D1} Verträge.", {D1: "3"})  # was ⦅N1⦆ ⦅N2⦆ ... ⦅N3⦆
    assert Protector.from_state(protector.to_state()) == protector
    # a state written before the rule: names, as it protected them
    old = {k: v for k, v in Protector(frozenset(), "fr", "en").to_state().items() if k != "names"}
    assert Protector.from_state(old).names


def test_training_a_pair_without_name_rules_says_so_and_makes_no_name_symbols():
    protector = Protector(frozenset(), "de", "en", names=False)
    augmentation = EntityAugmentation("de", "en", names=0.5, name_pool=["Tom"] * 20,
                                      protector=protector, name_symbol_probability=1.0)
    assert augmentation.names is None  # no name substitution either: "Berlin" might be a noun elsewhere
    description = "; ".join(augmentation.description({"symbols": 1}))
    assert "no names as entities: s2s has entity rules for fr, en" in description and "not for de" in description
    assert "train.name_augmentation is off" in description and "language rules: none for this pair" in description
    changed = [augmentation.augment(src, tgt, entity_flags(src, tgt, "de", "en"), augmentation_rng(1, 0, f"t:{i}"))
               for i, (src, tgt) in enumerate(zip(GERMAN, ENGLISH))]
    assert changed == [None, ("Anna hat ⦅D1⦆ Bücher.", "Anna has ⦅D1⦆ books.")]
    # French-English as before: the shared name becomes a symbol
    french = SymbolAugmentation("fr", "en", probability=1.0)
    assert french.augment("Anna a 25 ans.", "Anna is 25.", random.Random(1)) == (f"{N1} a {D1} ans.", f"{N1} is {D1}.")
    description = "; ".join(EntityAugmentation("fr", "en", protector=Protector(frozenset(), "fr", "en")).description({}))
    assert "no names" not in description and "language rules: fr and en" in description


# ---------------------------------------------------------------------------------------------
# 6. The API checks its arguments as the CLI does


@pytest.mark.parametrize("arguments, message", [
    ({"beam": 0}, "beam must be >= 1; got 0"),
    ({"length_penalty": -1}, "length_penalty must be >= 0.0; got -1.0"),
    ({"length_penalty": float("nan")}, "length_penalty must be a finite number; got nan"),
    ({"batch_tokens": 0}, "batch_tokens must be >= 1; got 0"),
    ({"max_repeats": -1}, "max_repeats must be >= 0; got -1"),
    ({"length_penalty_kind": "linear"}, "length_penalty_kind must be one of gnmt, length; got 'linear'"),
    ({"beam": "5"}, "beam must be an integer; got '5'"),
    ({"protect_entities": "no"}, "protect_entities must be true or false; got 'no'"),
])
def test_translator_load_refuses_what_the_cli_refuses(run_dir, arguments, message):
    with pytest.raises(UserError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        Translator.load(run_dir, **arguments)


@pytest.mark.parametrize("arguments, message", [
    ({"beam": 0}, "beam must be >= 1; got 0"),
    ({"beam": -2}, "beam must be >= 1; got -2"),
    ({"max_len": 0}, "max_len must be >= 1; got 0"),
    ({"max_len": -5}, "max_len must be >= 1; got -5"),
    ({"batch_tokens": 0}, "batch_tokens must be >= 1; got 0"),
    ({"n_best": 0}, "n_best must be >= 1; got 0"),
    ({"beam": 2.5}, "beam must be an integer; got 2.5"),
    ({"attention": "yes"}, "attention must be true or false; got 'yes'"),
])
def test_translate_batch_refuses_what_the_cli_refuses(run_dir, arguments, message):
    translator = Translator.load(run_dir)
    with pytest.raises(UserError, match=f"^{message}$"):
        translator.translate_batch(["Bonjour."], **arguments)


def test_the_cli_refuses_the_same_values(run_dir, monkeypatch, capsys):
    for option in (("--beam", "0"), ("--max-len", "0"), ("--batch-tokens", "0"), ("--max-repeats", "-1"),
                   ("--length-penalty", "-1"), ("--n-best", "0")):
        code, _, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, *option, "Bonjour.")
        assert code != 0 and option[0] in err, (option, err)


def test_an_export_refuses_the_same_values(export_dir):
    from seq2seq.export.ct2 import CTranslate2Translator

    with pytest.raises(UserError, match="^beam must be >= 1; got 0$"):
        CTranslate2Translator(export_dir, beam=0)
    with pytest.raises(UserError, match="^length_penalty must be a finite number; got nan$"):
        CTranslate2Translator(export_dir, length_penalty=float("nan"))
    with pytest.raises(UserError, match="^max_len must be >= 1; got 0$"):
        CTranslate2Translator(export_dir).translate_batch(["Bonjour."], max_len=0)


def test_any_iterable_of_sentences_is_read_once(run_dir):
    translator = Translator.load(run_dir)
    sentences = ["Bonjour.", "", "Merci."]
    expected = translator.translate(sentences)
    assert translator.translate(s for s in sentences) == expected  # was IndexError: the generator read twice
    assert [r.text for r in translator.translate_batch(iter(sentences))] == expected
    assert translator.translate(tuple(sentences)) == expected


@pytest.mark.parametrize("sentences, message", [
    (5, "sentences must be a list (or any iterable) of str; got int"),
    (None, "sentences must be a list (or any iterable) of str; got NoneType"),
    (["Bonjour.", 3], "sentences[1] must be a str; got int"),
    ([b"Bonjour."], "sentences[0] must be a str; got bytes"),
])
def test_sentences_of_another_type_are_a_type_error_naming_them(run_dir, sentences, message):
    translator = Translator.load(run_dir)
    for call in (translator.translate, translator.translate_batch):
        with pytest.raises(TypeError) as info:
            call(sentences)
        assert str(info.value) == message
    with pytest.raises(TypeError, match=r"got str \(translate\(\) takes one sentence as a str\)"):
        translator.translate_batch("Bonjour.")


def test_an_empty_sentence_has_an_empty_attention(run_dir):
    result = Translator.load(run_dir).translate_batch(["", "  "], attention=True)
    for empty in result:
        assert empty.source_pieces == [] and empty.best.pieces == [] and empty.text == ""
        assert empty.best.attention is not None and tuple(empty.best.attention.shape) == (0, 1, 4, 0)


# ---------------------------------------------------------------------------------------------
# 7. Unclear refusals


def test_weights_of_another_shape_are_named(run_dir):
    payload = load_checkpoint(run_dir / "best.pt")
    payload["config"]["model"]["ff_size"] = 48
    with pytest.raises(UserError, match=r"best\.pt: its weights do not fit the model its stored config describes "
                                        r"\(6 of another shape: encoder_layers\.0\.feed_forward\.hidden\.weight is "
                                        r"\(64, 32\), the config makes \(48, 32\)"):
        model_from_payload(payload)
    payload["config"]["model"]["ff_size"], payload["config"]["model"]["decoder_layers"] = 64, 2
    with pytest.raises(UserError, match=r"missing: decoder_layers\.1\.") as info:
        model_from_payload(payload)
    assert "Error(s) in loading" not in str(info.value)


def test_a_foreign_pickle_is_one_line_without_a_warning(tmp_path):
    import pickle

    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=4))
    code, _, err = s2s("translate", "--model", path, "Bonjour.")  # a new process: warnings as a user sees them
    assert code == 1 and err.splitlines() == [f"error: {path}: unreadable checkpoint (truncated or not written by "
                                              "s2s): UnpicklingError"], err


# ---------------------------------------------------------------------------------------------
# Found while at it


def test_a_lone_surrogate_is_a_user_error_naming_the_sentence(run_dir):
    """Valid in a Python str (and in JSON), no text: SentencePiece failed with "List elements must be str"."""
    with pytest.raises(UserError, match=r"^sentences\[1\] is no valid text: a lone surrogate U\+D800 at character 2"):
        Translator.load(run_dir).translate_batch(["Bonjour.", "a\ud800b"])


def test_a_beam_wider_than_the_vocabulary_is_refused(run_dir, monkeypatch, capsys):
    """--beam 100000 (a slip) ran the machine out of memory and ended in a traceback."""
    translator = Translator.load(run_dir)
    vocabulary = translator.tgt_tokenizer.vocab_size
    with pytest.raises(UserError, match=f"^beam {vocabulary + 1} is wider than the target vocabulary "
                                        f"\\({vocabulary} pieces\\); choose a beam of at most {vocabulary}$"):
        translator.translate_batch(["Bonjour."], beam=vocabulary + 1)
    with pytest.raises(UserError, match="is wider than the target vocabulary"):
        translator.translate_batch(["Bonjour."], n_best=vocabulary + 1)
    one_error_line(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--beam", "100000", "Bonjour."),
                   "beam 100000 is wider than the target vocabulary")


def test_running_out_of_memory_while_decoding_is_one_line(run_dir, monkeypatch):
    import seq2seq.translator as translator_module

    def exhausted(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 4096000000 bytes.")

    monkeypatch.setattr(translator_module, "search_padded", exhausted)
    with pytest.raises(UserError, match=r"^out of memory decoding 1 sentence\(s\) at beam 3: lower the beam"):
        Translator.load(run_dir).translate_batch(["Bonjour."])


def test_one_symbol_typed_twice_is_one_slot():
    protector = Protector(known_words(["et aiment"] * 2), "fr", "en")
    assert protector.protect("⦅N1⦆ et ⦅N1⦆ aiment Jane.") == (f"{N1} et {N1} aiment {N2}.", {N1: "⦅N1⦆", N2: "Jane"})


@pytest.mark.parametrize("change, needle", [
    (lambda info: info.update(placeholders={"x": 1}), "its placeholders (the entity state) are damaged"),
    (lambda info: info["data"].update(normalization="bogus"), "data.normalization must be one of nfkc, nfc, none"),
    (lambda info: info["data"].update(elision=5), "data.elision or max_positions is not one s2s export writes"),
    (lambda info: info.update(max_positions="x"), "data.elision or max_positions is not one s2s export writes"),
])
def test_an_export_description_with_bad_values_is_one_line(export_dir, tmp_path, change, needle):
    """Each of these was a KeyError, TypeError or ValueError from deep inside the pipeline."""
    import json

    from seq2seq.loading import open_translator

    broken = damaged_copy(export_dir, tmp_path)
    info = json.loads((broken / "s2s_export.json").read_text(encoding="utf-8"))
    change(info)
    (broken / "s2s_export.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(UserError, match=None) as raised:
        open_translator(broken).translate(["Bonjour Jane."])
    assert str(raised.value).startswith(f"{broken / 's2s_export.json'}: ") and needle in str(raised.value)


def test_a_checkpoint_with_a_damaged_entity_state_is_one_line(run_dir, tmp_path):
    payload = load_checkpoint(run_dir / "best.pt")
    payload.pop("path")
    payload["placeholders"] = {"languages": ["fr", "en"]}  # no known words
    save_checkpoint(tmp_path / "best.pt", payload)
    with pytest.raises(UserError, match=r"best\.pt: its placeholders \(the entity state\) are damaged"):
        Translator.load(tmp_path / "best.pt")


@pytest.mark.parametrize("path", [None, 5])
def test_a_path_of_another_type_is_a_type_error_naming_it(path):
    with pytest.raises(TypeError, match=f"^path must be a run directory or checkpoint file \\(str or Path\\); "
                                        f"got {type(path).__name__}$"):
        Translator.load(path)


@pytest.mark.parametrize("key", ["config", "model_state", "spm_src"])
def test_a_checkpoint_without_what_translating_needs_is_one_line(run_dir, tmp_path, key):
    payload = load_checkpoint(run_dir / "best.pt")
    payload.pop("path")
    payload.pop(key)
    torch.save(payload, tmp_path / "stripped.pt")
    with pytest.raises(UserError, match=f"stripped\\.pt: an s2s checkpoint without {key}, which translating needs"):
        Translator.load(tmp_path / "stripped.pt")


def test_without_a_protector_typed_symbols_are_kept_where_the_model_copies_them(symbol_tokenizer):
    """protect_entities=False (or a model without entity symbols): the model reads "⦅D1⦆" as typed, and
    restore dropped it from the output as a slip."""
    copier = Copier(symbol_tokenizer, Protector(frozenset(), "fr", "en"))
    copier.settings = DecodeConfig(beam_size=1, protect_entities=False)
    assert copier.translate(["Il a ⦅D1⦆ ans.", "⦅N1⦆ aime Paul."]) == ["Il a ⦅D1⦆ ans.", "⦅N1⦆ aime Paul."]


def test_a_german_english_corpus_gets_digit_symbols_only_and_the_log_says_why(tmp_path):
    """The issue's case: with entity symbols on, "Bundesrepublik", "Verträge" and a sentence-initial
    "Die" became name symbols (they stand on both sides often enough: "Berlin", "Anna") and came
    out untranslated."""
    import dataclasses

    from seq2seq.data.augment import make_augmentation
    from seq2seq.data.manifest import read_manifest
    from test_loader import epoch_pairs
    from test_train import write_shards

    nouns = ["Bundesrepublik", "Verträge", "Hunde", "Katzen", "Bücher", "Häuser"]
    pairs = [(f"Die {nouns[i % 6]} von Anna kosten {i} Euro in Berlin.",
              f"The {nouns[i % 6].lower()} of Anna cost {i} euros in Berlin.") for i in range(60)]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.src").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (data / f"{split}.tgt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    sentences = [side for pair in pairs for side in pair] + ["abcdefghijklmnopqrstuvwxyzäöüß" * 2]
    tokenizer = Tokenizer(train_sentencepiece(sentences, vocab_size=120, model_type="bpe", character_coverage=1.0,
                                              symbols=SYMBOLS))
    (data / "spm.model").write_bytes(tokenizer.to_bytes())
    config = toy_config(data, protect_entities=True, name_symbol_probability=1.0)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, src_lang="de", tgt_lang="en"))
    write_shards(data, config.data)
    augmentation = make_augmentation(config, data, read_manifest(config, shards=True), tokenizer, tokenizer)
    assert augmentation.protector is not None and not augmentation.protector.names
    assert "no names as entities" in augmentation.description and "not for de" in augmentation.description
    texts = [src for src, _ in epoch_pairs(data, config, 0)]
    assert not any("⦅N" in text for text in texts) and sum(D1 in text for text in texts) == 60
    assert augmentation.protector.protect("Die Verträge von Anna kosten 3 Euro.") == (
        f"Die Verträge von Anna kosten {D1} Euro.", {D1: "3"})


def test_a_checkpoint_that_cannot_be_read_says_so(run_dir, monkeypatch):
    """A file this user may not read was called "truncated or not written by s2s"."""
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(torch, "load", refused)
    with pytest.raises(UserError, match=r"best\.pt: cannot read the checkpoint \(Permission denied\)$"):
        load_checkpoint(run_dir)
