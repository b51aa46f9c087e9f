"""Names, numbers and rare words (issue 12): the name augmentation, subword sampling, the copy
rate of `s2s eval --expect`, scripts/make_names_test.py, and exact resume with augmentation on."""

from __future__ import annotations

import importlib.util
import json
import random
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import torch
from test_entity_augmentation import changed_pairs
from test_resume import start_slow_training, wait_for_checkpoint
from test_train import WORDS, assert_same_weights, run_training, toy_config, toy_pairs, weights, write_shards
from test_translate_eval import assert_one_line_error, make_checkpoint, run_cli

from seq2seq.checkpoint import load_checkpoint
from seq2seq.config import Config
from seq2seq.data.augment import Augmentation, BatchMaker, make_augmentation
from seq2seq.data.batching import Batch
from seq2seq.data.manifest import read_manifest
from seq2seq.data.shards import Shard
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.entities import FLAG_NAMES, augmentation_names, entity_flags, shared_names, substitute_names, usable_names
from seq2seq.entities.names import NameAugmentation, candidate
from seq2seq.entities.numbers import NumberAugmentation, mend_ordinals, shared_numbers, substitute_numbers
from seq2seq.files import read_lines
from seq2seq.metrics import contains_word, copy_rate
from seq2seq.errors import UserError
from seq2seq.special_tokens import PAD_ID

REPO = Path(__file__).resolve().parents[1]
TOY_NAMES = ["Tom", "Mary", "Anna", "Paul", "Lucas", "Emma"]


def make_names_test_script():
    """scripts/make_names_test.py as a module (it holds the held-out names)."""
    spec = importlib.util.spec_from_file_location("make_names_test", REPO / "scripts" / "make_names_test.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def named_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Toy pairs, many with a name on both sides, some with it on one side or differing."""
    rng = random.Random(seed)
    pairs = []
    for src, tgt in toy_pairs(n, seed):
        kind, name = rng.random(), rng.choice(TOY_NAMES)
        if kind < 0.5:
            src, tgt = f"{name} {src} .", f"{name} {tgt}."
        elif kind < 0.6:
            src, tgt = f"{name} {src}", f"he {tgt}"  # the name on one side only
        elif kind < 0.7:
            src, tgt = f"Jean {src}", f"John {tgt}"  # names that differ
        pairs.append((src, tgt))
    return pairs


def write_named_text(directory: Path, n_train: int = 400) -> None:
    """train, dev and test text of named pairs, as a hand-made prepared directory holds them."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", n_train, 1), ("dev", 40, 2), ("test", 40, 3)):
        pairs = named_pairs(count, seed)
        (directory / f"{split}.src").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (directory / f"{split}.tgt").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")


def make_named_data(directory: Path, n_train: int = 400) -> Path:
    """A prepared-data directory like test_train's toy data (a training shard), with names; its
    SentencePiece model also knows every letter, so it spells most augmentation names."""
    write_named_text(directory, n_train)
    letters = "abcdefghijklmnopqrstuvwxyzéè"
    sentences = [side for pair in named_pairs(n_train, 1) for side in pair] + [letters, letters.upper()] * 3
    (directory / "spm.model").write_bytes(
        train_sentencepiece(sentences, vocab_size=120, model_type="bpe", character_coverage=1.0))
    return write_shards(directory)


def made_batch(data_dir: Path, config: Config, epoch: int) -> tuple[Batch, Augmentation]:
    """Every training pair of a one-shard directory, made for `epoch` as training makes them, in
    one batch (in row order); and the augmentation that made them."""
    tokenizer = Tokenizer.from_file(data_dir / "spm.model")
    augmentation = make_augmentation(config, data_dir, read_manifest(config, shards=True), tokenizer, tokenizer)
    shard = Shard.open(data_dir, "train.00000")
    try:
        rows = torch.arange(len(shard))
        return BatchMaker(tokenizer, tokenizer, None, config.train.seed, augmentation)(shard, epoch, 0, rows), \
            augmentation
    finally:
        shard.close()


def made_texts(data_dir: Path, config: Config, epoch: int) -> list[tuple[str, str]]:
    """made_batch's pairs, decoded."""
    batch, _ = made_batch(data_dir, config, epoch)
    tokenizer = Tokenizer.from_file(data_dir / "spm.model")
    tgt_lengths = (batch.gold != PAD_ID).sum(1) - 1  # without EOS
    return [(tokenizer.decode(src[:n - 1]), tokenizer.decode(tgt[:m]))
            for src, n, tgt, m in zip(batch.src_tokens.tolist(), batch.src_lengths.tolist(), batch.gold.tolist(),
                                      tgt_lengths.tolist())]


def shard_texts(data_dir: Path) -> list[tuple[str, str]]:
    """The prepared training pairs of a one-shard directory, as text."""
    shard = Shard.open(data_dir, "train.00000")
    try:
        return [shard.text(row) for row in range(len(shard))]
    finally:
        shard.close()


@pytest.fixture(scope="module")
def named_data(tmp_path_factory) -> Path:
    return make_named_data(tmp_path_factory.mktemp("names") / "data")


@pytest.fixture(scope="module")
def tokenizer(named_data: Path) -> Tokenizer:
    return Tokenizer.from_file(named_data / "spm.model")


# ---------------------------------------------------------------------------------------------
# Finding and substituting names


@pytest.mark.parametrize("src, tgt, names", [
    ("C'est le chien de Tom.", "It's Tom's dog.", ["Tom"]),
    ("« Marie, viens ! » dit Tom.", '"Mary, come!" said Tom.', ["Tom"]),
    ('"Tom!" cria-t-elle.', '"Tom!" she shouted.', ["Tom"]),
    ("Jane visite l'Afrique en septembre.", "Jane visits Africa in September.", ["Jane"]),
    ("L'Europe est grande.", "Europe is big.", []),  # "L'Europe": an article, not a name
    ("Le livre d'Alice.", "Alice's book.", ["Alice"]),
    ("Je pense qu'Emma viendra.", "I think Emma will come.", ["Emma"]),
    ("Tom et Mary sont là.", "Tom and Mary are here.", ["Tom", "Mary"]),
    ("Jean est là.", "John is here.", []),  # the name differs between the sides
    ("Tom est là.", "He is here.", []),  # on one side only
    ("Tom a vu Tom.", "Tom saw himself.", []),  # not as often on both sides
    ("OK, la TV de l'ONU.", "OK, the UN TV.", []),  # short all-capital abbreviations
    ("Va voir Jean-Luc !", "Go see Jean-Luc!", ["Jean-Luc"]),
])
def test_shared_names(src: str, tgt: str, names: list[str]) -> None:
    assert shared_names(src, tgt) == names


def test_candidate_keeps_every_character() -> None:
    for token in ["«Tom", "d'Alice,", "Tom's.", '"Zoë!"', "(O'Brien)"]:
        found = candidate(token)
        assert found is not None and "".join(found) == token
    assert [candidate(t) for t in ["tom", "I", "USA", "l'Afrique", "J'ai", "25", "Tom2"]] == [None] * 7


def test_substitution_is_consistent_and_keeps_french_elision() -> None:
    mapping = {"Tom": "Alice", "Mary": "Zoë"}
    assert substitute_names("C'est le chien de Tom et de Mary.", mapping, "fr") == \
        "C'est le chien d'Alice et de Zoë."
    assert substitute_names("It's Tom's and Mary's dog.", mapping) == "It's Alice's and Zoë's dog."
    assert substitute_names("Le livre d'Alice.", {"Alice": "Tom"}, "fr") == "Le livre de Tom."
    assert substitute_names("Je crois qu'Emma part.", {"Emma": "Paul"}, "fr") == "Je crois que Paul part."
    assert substitute_names("  Tom, Tommy and Tom.", {"Tom": "Ann"}) == "  Ann, Tommy and Ann."


def test_name_lists() -> None:
    augmentation, held_out = augmentation_names(), make_names_test_script().held_out_names()
    assert len(augmentation) > 1500 and len(held_out) > 400
    assert not set(augmentation) & set(held_out)
    assert len(set(augmentation)) == len(augmentation) and len(set(held_out)) == len(held_out)
    for name in augmentation + held_out:
        assert unicodedata.normalize("NFKC", name) == name
        assert candidate(name) is not None and candidate(name).core == name, name
    assert {"Zoë", "Łukasz", "Jean-Luc", "Oluwaseun", "Xochitl"} <= set(augmentation)


def test_usable_names_drop_what_the_vocabulary_cannot_spell(tokenizer: Tokenizer) -> None:
    usable = usable_names(augmentation_names(), tokenizer)
    assert "Jane" in usable and "Łukasz" not in usable and len(usable) > 1000


# ---------------------------------------------------------------------------------------------
# The augmentation


def test_augmentation_is_seeded_consistent_and_leaves_other_pairs_alone() -> None:
    pairs = named_pairs(300, 5)
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    pool = list(augmentation_names())
    augmentation = NameAugmentation(pool, 0.5, "fr", "en")
    eligible = {i for i in range(len(pairs)) if entity_flags(src[i], tgt[i], "fr", "en") & FLAG_NAMES}
    assert eligible == {i for i in range(len(pairs)) if shared_names(src[i], tgt[i])}
    assert 100 < len(eligible) < 200

    epoch0 = changed_pairs(augmentation, src, tgt, seed=1, epoch=0)
    assert epoch0 == changed_pairs(NameAugmentation(pool, 0.5, "fr", "en"), src, tgt, seed=1, epoch=0)
    assert epoch0 != changed_pairs(augmentation, src, tgt, seed=1, epoch=1)
    assert epoch0 != changed_pairs(augmentation, src, tgt, seed=2, epoch=0)
    assert changed_pairs(NameAugmentation(pool, 0.0, "fr", "en"), src, tgt) == {}
    assert set(changed_pairs(NameAugmentation(pool, 1.0, "fr", "en"), src, tgt)) == eligible
    assert set(epoch0) <= eligible and 0.3 * len(eligible) < len(epoch0) < 0.7 * len(eligible)
    for i, (new_src, new_tgt) in epoch0.items():
        old_name = shared_names(src[i], tgt[i])[0]
        new_names = shared_names(new_src, new_tgt)
        assert len(new_names) == 1 and new_names[0] != old_name and new_names[0] in pool
        assert new_src == src[i].replace(old_name, new_names[0], 1)  # nothing else changed
        assert new_tgt == tgt[i].replace(old_name, new_names[0], 1)


def test_training_pairs_are_a_function_of_seed_and_epoch(named_data: Path) -> None:
    def texts(epoch: int, **train: float) -> list[tuple[str, str]]:
        return made_texts(named_data, toy_config(named_data, **train), epoch)

    raw = shard_texts(named_data)
    assert texts(0) == texts(5) == raw  # nothing re-made
    epoch0 = texts(0, name_augmentation=0.5)
    assert epoch0 == texts(0, name_augmentation=0.5) != texts(1, name_augmentation=0.5)
    assert epoch0 != texts(0, name_augmentation=0.5, seed=4)
    changed = [i for i, (a, b) in enumerate(zip(epoch0, raw)) if a != b]
    assert changed and all(shared_names(*raw[i]) for i in changed)
    assert 0.3 < len(changed) / sum(1 for pair in raw if shared_names(*pair)) < 0.7

    def source_ids(epoch: int, **train: float) -> list[list[int]]:
        return made_batch(named_data, toy_config(named_data, **train), epoch)[0].src_tokens.tolist()
    sampled = source_ids(0, subword_sampling=0.3)
    assert sampled == source_ids(0, subword_sampling=0.3) != source_ids(1, subword_sampling=0.3)
    assert sampled != source_ids(0)
    assert texts(0, subword_sampling=0.3) == texts(1, subword_sampling=0.3) == raw  # other pieces, the same text


@pytest.mark.parametrize("src,tgt,numbers", [
    ("J'ai 25 ans.", "I'm 25 years old.", ["25"]),
    ("Il est né en 1990, le 3 mai.", "He was born on May 3, 1990.", ["1990", "3"]),
    ("Je lui dois 50,000 yens.", "I owe him 50,000 yen.", ["50", "000"]),
    ("Rentre avant 2h30.", "Come home before 2:30.", ["2", "30"]),  # a time's digits
    ("Rentre à 17h.", "Come home at 5pm.", []),
    ("Le B52 est en 3D.", "The B52 is in 3D.", []),  # digits of other words are no numbers
    ("Il a 3 chats et 3 chiens.", "He has 3 cats and three dogs.", []),  # 3 twice, once: not shared
    ("C'est le 1er jour.", "It's the 1st day.", ["1"]),  # an ordinal's
    ("J'ai 5 ans.", "I'm five.", []),
])
def test_shared_numbers(src: str, tgt: str, numbers: list[str]) -> None:
    assert shared_numbers(src, tgt) == numbers


@pytest.mark.parametrize("text,mended", [
    ("the 1th, 2th, 3st, 4st, 11st, 12nd, 13rd, 21th, 22th, 101th, 111st", "the 1st, 2nd, 3rd, 4th, 11th, 12th, "
     "13th, 21st, 22nd, 101st, 111th"),
    ("le 1er, 5er, 5re, 1re, 2e, 3ème", "le 1er, 5e, 5e, 1re, 2e, 3ème"),  # "er"/"re" only after 1
    ("At 2:30 on the 4th, 1990.", "At 2:30 on the 4th, 1990."),
])
def test_mend_ordinals_gives_each_number_its_suffix(text: str, mended: str) -> None:
    assert mend_ordinals(text) == mended


def test_substituted_ordinals_and_times_take_the_new_number_and_fitting_suffix() -> None:
    mapping = {"13": "22", "1": "3", "2": "7", "30": "45"}
    assert substitute_numbers("Il a fini 13e, le 1er à 2h30.", mapping) == "Il a fini 22e, le 3e à 7h45."
    assert substitute_numbers("He finished 13th, the 1st at 2:30.", mapping) == "He finished 22nd, the 3rd at 7:45."
    changed = changed_pairs(NumberAugmentation(1.0), ["Il a fini 13e."] * 20, ["He finished 13th."] * 20)
    assert len(changed) == 20
    for new_src, new_tgt in changed.values():
        number = new_src.split(" ")[-1][:-2]
        assert new_src == f"Il a fini {number}e." and new_tgt == f"He finished {mend_ordinals(number + 'th')}."
        assert number != "13"


def test_number_augmentation_is_seeded_consistent_and_leaves_other_pairs_alone() -> None:
    src = ["J'ai 25 ans et 3 chats.", "Il est en 3D.", "Il a 40 ans.", "Rien ici.", "Le 7 est le 7."]
    tgt = ["I'm 25 and have 3 cats.", "It's in 3D.", "He's forty.", "Nothing here.", "7 is 7."]
    augmentation = NumberAugmentation(0.5)
    src, tgt = src * 50, tgt * 50
    assert set(changed_pairs(NumberAugmentation(1.0), src, tgt)) == {i for i in range(250) if i % 5 in (0, 4)}
    changed = changed_pairs(augmentation, src, tgt, seed=1, epoch=0)
    assert changed == changed_pairs(augmentation, src, tgt, seed=1, epoch=0) != changed_pairs(augmentation, src, tgt, 1, 1)
    assert 30 < len(changed) < 70 and all(i % 5 in (0, 4) for i in changed)
    for i, (new_src, new_tgt) in changed.items():
        old = shared_numbers(src[i], tgt[i])
        new = shared_numbers(new_src, new_tgt)
        assert len(new) == len(old) and not set(new) & set(old)
        assert [len(n) for n in new] == [len(n) for n in old]  # as many digits
        mapping = dict(zip(old, new))
        assert (new_src, new_tgt) == (substitute_numbers(src[i], mapping), substitute_numbers(tgt[i], mapping))
    assert changed_pairs(NumberAugmentation(0.0), src, tgt) == {}
    # ten one-digit numbers, all taken: nothing to draw, the pair stays
    digits = " ".join(str(d) for d in range(10))
    assert NumberAugmentation(1.0).augment(digits, digits, random.Random(1)) is None


def test_subword_sampling_segments_anew_but_decodes_to_the_same_text(tokenizer: Tokenizer) -> None:
    sentence = ["Tom voit le petit chat rouge dans le jardin ."]
    draws = [tokenizer.encode_sampled(sentence * 20, 0.3, seed) for seed in (1, 1, 2)]
    assert draws[0] == draws[1] != draws[2]
    assert len({tuple(ids) for ids in draws[0]}) > 1  # sentences within a call differ too
    assert all(tokenizer.decode(ids) == sentence[0] for ids in draws[0] + draws[2])


# ---------------------------------------------------------------------------------------------
# Exact resume with augmentation on


def kill_and_resume(config, tmp_path: Path) -> str:
    """Train `config` to its end (the reference), then again killed after a save and resumed: the
    same final weights. Returns the reference run's train.log."""
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config.to_yaml(), encoding="utf-8")
    run_training(config, tmp_path / "reference")
    run_dir = tmp_path / "run"
    process = start_slow_training(config_file, run_dir)
    wait_for_checkpoint(process, run_dir)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert 0 < load_checkpoint(run_dir / "last.pt")["train_state"]["step"] < config.train.max_steps
    run_training(config, run_dir, resume=True)
    assert_same_weights(weights(run_dir / "last.pt"), weights(tmp_path / "reference" / "last.pt"))
    return (tmp_path / "reference" / "train.log").read_text(encoding="utf-8")


def test_killed_run_with_name_augmentation_resumes_to_the_same_weights(named_data: Path, tmp_path: Path) -> None:
    config = toy_config(named_data, max_steps=40, save_every=5, validate_every=20, name_augmentation=0.5)
    log = kill_and_resume(config, tmp_path)
    assert "augmentation: names substituted in 50% of the 191 pairs with a name on both sides" in log

    other = toy_config(named_data, max_steps=40, save_every=5, validate_every=20, name_augmentation=0.25)
    with pytest.raises(UserError, match="name_augmentation: 0.5 -> 0.25"):
        run_training(other, tmp_path / "run", resume=True)


# ---------------------------------------------------------------------------------------------
# The copy rate


def test_contains_word_and_copy_rate() -> None:
    assert contains_word("Ann's cat (Ann).", "Ann") and not contains_word("Annual report", "Ann")
    assert contains_word("At 10:30, 25 people.", "25") and not contains_word("In 1925.", "25")
    assert contains_word("The 2nd war, at 5pm.", "2") and contains_word("The 2nd war, at 5pm.", "5")
    assert not contains_word("The B52 in 3D.", "52") and not contains_word("The B52 in 3D.", "3")
    assert not contains_word("ann is here", "Ann")  # verbatim: case counts
    result = copy_rate(["Ann and Bo came.", "Annual.", "Nothing expected.", "Bo."], [["Ann", "Bo"], ["Ann"], [], ["Ann", "Bo"]])
    assert (result["copy_rate"], result["copied"], result["sentences"]) == (pytest.approx(100 / 3, abs=0.01), 1, 3)
    assert (result["tokens_copied"], result["tokens"], result["missed"]) == (3, 5, [2, 4])
    assert copy_rate(["x"], [[]])["copy_rate"] is None


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", {
        "type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
        "decoder_layers": 1, "max_positions": 128})


def test_eval_expect_reports_the_copy_rate(tiny_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    sources = [f"{name} {src}" for name, (src, _) in zip(TOY_NAMES * 2, toy_pairs(10, 4))]
    src, ref, hyp = tmp_path / "t.fr", tmp_path / "t.en", tmp_path / "hyp.txt"
    src.write_text("".join(s + "\n" for s in sources), encoding="utf-8")
    ref.write_text("".join(s.lower() + "\n" for s in sources), encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", tiny_run, "--src", src, "--ref", ref,
                             "--beam", "1", "--output", hyp)
    assert code == 0, err
    hypotheses = read_lines(hyp, "h")
    # Expect each output's own first word (copied), nothing, or a word it lacks (missed).
    expect_lines = [h.split()[0] if h.split() and i % 3 == 0 else "" if i % 3 == 1 else "Zyzzyva"
                    for i, h in enumerate(hypotheses)]
    expect = tmp_path / "t.expect"
    expect.write_text("".join(line + "\n" for line in expect_lines), encoding="utf-8")
    wanted = [line.split() for line in expect_lines]
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", tiny_run, "--src", src, "--ref", ref,
                             "--beam", "1", "--expect", expect, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["copy_rate"] == copy_rate(hypotheses, wanted)["copy_rate"]
    assert report["copy"]["sentences"] == sum(bool(w) for w in wanted) and report["copy"]["expect"] == str(expect)
    assert "bleu" in report and "chrf" in report

    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", tiny_run, "--src", src, "--ref", ref,
                             "--beam", "1", "--expect", expect)
    assert code == 0, err
    copied = report["copy"]["copied"]
    assert f"copy rate: {report['copy_rate']:.1f}% ({copied} of {report['copy']['sentences']} sentences" in out

    expect.write_text("".join(line + "\n" for line in expect_lines[:-2]), encoding="utf-8")
    result = run_cli(monkeypatch, capsys, "eval", "--model", tiny_run, "--src", src, "--ref", ref, "--expect", expect)
    assert_one_line_error(result, str(expect), "8 lines", "10")


# ---------------------------------------------------------------------------------------------
# scripts/make_names_test.py


def test_make_names_test_script_runs() -> None:
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "make_names_test.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--data-dir" in out and "--out-dir" in out


def test_make_names_test(named_data: Path, tmp_path: Path, capsys) -> None:
    script = make_names_test_script()
    counts = script.make_tests(named_data, tmp_path, seed=1, most=None)
    assert "share a name on both sides" in capsys.readouterr().out
    names = {side: read_lines(tmp_path / f"names.{side}", side) for side in ("src", "tgt", "expect")}
    assert counts["names_test"] == len(names["src"]) == counts["with_shared_name"] > 5
    training = {w.lower().strip(".") for pair in shard_texts(named_data) for line in pair for w in line.split()}
    held_out = set(script.held_out_names())
    for src, tgt, expected in zip(names["src"], names["tgt"], names["expect"]):
        assert expected and shared_names(src, tgt) == expected.split()
        assert all(name in held_out and name.lower() not in training for name in expected.split())
    assert not set(WORDS) & {n.lower() for line in names["expect"] for n in line.split()}
    digits = read_lines(tmp_path / "digits.src", "d")
    assert digits == [] and counts["digits_test"] == 0  # the toy data has no numbers
    script.make_tests(named_data, tmp_path / "few", seed=2, most=3)
    assert len(read_lines(tmp_path / "few" / "names.src", "s")) == 3
