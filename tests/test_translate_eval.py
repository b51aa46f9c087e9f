"""`s2s translate` and `s2s eval` end to end on tiny checkpoints, and the plots."""

from __future__ import annotations

import io
import json
import os
import random
import select
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
import torch

from seq2seq.checkpoint import make_payload, save_checkpoint
from seq2seq.config import config_from_dict
from seq2seq.data.tokenizer import Tokenizer, train_sentencepiece
from seq2seq.files import read_lines
from seq2seq.metrics import LENGTH_BUCKETS, bleu_by_length, score_translations
from seq2seq.models import build_model
from seq2seq.plots import plot_attention, plot_bleu_by_length, plot_training_curves
from conftest import run_cli as run_cli_in_process

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

EDGE_LINES = [
    "Jane visite l'Afrique en septembre.",
    "",
    "   \t  ",
    # 2,000 characters of one sentence to the splitter (no capital after a period)
    " ".join(["il fait très beau aujourd'hui, allons nous promener."] * 40)[:2000],
    "J'adore les 🍕 et les 🎉 ! 😀👍🏽",
    "con\rtrôle\x0bvertical\x0cpage\x1cfile\x85next\u2028line\u2029para\x00nul\x07bell",
    "\u00a0\u202f",
    "Fin.",
]


def corpus_sentences() -> list[str]:
    """A few hundred sentences: the real Tatoeba file when available, else generated text."""
    folder = os.environ.get("S2S_SHARED_DATA")
    path = Path(folder) / "tatoeba-fra-eng" / "fra.txt" if folder else None
    if path is not None and path.is_file():
        rows = path.read_text(encoding="utf-8").splitlines()
        sample = random.Random(0).sample(rows, 400)
        return [side for row in sample for side in row.split("\t")[:2]]
    rng = random.Random(0)
    syllables = ["ma", "ri", "to", "le", "chat", "est", "noir", "the", "cat", "is", "black", "pa", "vu"]
    return [" ".join("".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
                     for _ in range(rng.randint(2, 12))).capitalize() + "." for _ in range(600)]


def make_checkpoint(directory: Path, model_section: dict) -> Path:
    """A run directory with best.pt of a tiny randomly initialised model and its vocabulary."""
    proto = train_sentencepiece(iter(corpus_sentences()), vocab_size=150, model_type="bpe",
                                character_coverage=1.0)
    tokenizer = Tokenizer(proto)
    config = config_from_dict({
        "name": "tiny",
        "data": {"path": "corpus.tsv", "vocab_size": 150, "dir": "data/tiny"},
        "model": model_section,
        "decode": {"beam_size": 3, "max_len_offset": 5},
    })
    torch.manual_seed(0)
    model = build_model(config.model, tokenizer.vocab_size, tokenizer.vocab_size, True)
    directory.mkdir(parents=True, exist_ok=True)
    save_checkpoint(directory / "best.pt", make_payload(config, model, tokenizer, tokenizer))
    return directory


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "tiny", {
        "type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
        "decoder_layers": 2, "max_positions": 128})


@pytest.fixture(scope="module")
def rnn_no_attention_dir(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "noattn", {
        "type": "rnn", "rnn_cell": "gru", "embedding_dim": 16, "hidden_size": 16,
        "encoder_layers": 1, "decoder_layers": 1, "attention": "none"})


def run_cli(monkeypatch, capsys, *args, stdin: bytes | None = None) -> tuple[int, str, str]:
    """conftest's in-process `s2s`, with `stdin` as the standard input (a stream without a
    file descriptor, so translate reads it line by line)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    return run_cli_in_process(monkeypatch, capsys, *args)


def output_lines(text: str) -> list[str]:
    """Lines as a downstream tool sees them; must agree with splitting on newlines only."""
    assert text.endswith("\n") or text == ""
    lines = text.split("\n")[:-1]
    assert text.splitlines() == lines, "an output line holds a line-break character"
    return lines


def assert_one_line_error(result: tuple[int, str, str], *needles: str) -> None:
    """A failed command: exit code 1, one `error: ...` line on stderr, no traceback."""
    code, _, err = result
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0]


# ---------------------------------------------------------------------------------------------
# s2s translate


def test_translate_arguments_one_line_each(run_dir, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir,
                             "Jane visite l'Afrique en septembre.", "Bonjour !", "")
    assert code == 0, err
    lines = output_lines(out)
    assert len(lines) == 3 and lines[2] == ""


def test_translate_stdin_edge_cases_one_line_per_line(run_dir, monkeypatch, capsys):
    data = "\n".join(EDGE_LINES).encode("utf-8") + b"\n"
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--beam", "2",
                             stdin=data)
    assert code == 0, err
    lines = output_lines(out)
    assert len(lines) == len(EDGE_LINES)
    assert lines[1] == "" and lines[2] == "" and lines[6] == ""
    assert "truncated" in err  # the 2,000-character line is longer than max_positions


def test_translate_pipe_streams_through_a_real_file_descriptor(run_dir, tmp_path):
    """As a subprocess with a real pipe: invalid UTF-8 and a last line without newline too."""
    data = "\n".join(EDGE_LINES).encode("utf-8") + b"\nbad \xff\xfe bytes\nno newline at the end"
    done = subprocess.run([sys.executable, "-m", "seq2seq", "translate", "--model", str(run_dir),
                           "--beam", "1"], input=data, capture_output=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # tiny model: 1 thread is fastest
    assert done.returncode == 0, done.stderr.decode()
    lines = output_lines(done.stdout.decode("utf-8"))
    assert len(lines) == len(EDGE_LINES) + 2


def test_translate_answers_each_line_before_stdin_ends(run_dir, tmp_path):
    """Interactive use: a line in, its translation out, while stdin stays open."""
    process = subprocess.Popen([sys.executable, "-m", "seq2seq", "translate", "--model", str(run_dir),
                                "--beam", "1", "--max-len", "5"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for sentence in (b"Bonjour.\n", b"\n", b"Merci beaucoup.\n"):
            process.stdin.write(sentence)
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], 60)
            assert ready, "no output for a line while stdin is still open"
            assert process.stdout.readline().endswith(b"\n")
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        assert process.stdout.read() == b""
    finally:
        process.kill()
        process.wait()


def test_translate_files_and_n_best(run_dir, tmp_path, monkeypatch, capsys):
    source = tmp_path / "in.txt"
    source.write_text("Bonjour.\n\nMerci beaucoup.\r\nAu revoir.\n", encoding="utf-8")
    target = tmp_path / "out" / "hyp.txt"
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--input", source,
                             "--output", target, "--n-best", "3", "--max-len", "6")
    assert code == 0, err
    assert out == ""
    lines = output_lines(target.read_text(encoding="utf-8"))
    assert len(lines) == 4
    for index, line in enumerate(lines):
        fields = line.split("\t")
        if index == 1:  # the empty input line: the empty translation, then no more hypotheses
            assert fields == ["0.0000", "", "-inf", "", "-inf", ""]
            continue
        assert len(fields) == 6  # score<TAB>text x 3
        scores = [float(s) for s in fields[0::2]]
        assert scores == sorted(scores, reverse=True)
        assert all(len(text.split()) <= 6 for text in fields[1::2])
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_translate_without_model_uses_the_latest_run(run_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tiny").symlink_to(run_dir)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "translate", "Bonjour.")
    assert code == 0, err
    assert "runs/tiny" in err and len(output_lines(out)) == 1


def test_translate_errors_are_one_line(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "Bonjour."), "no trained model")
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model", tmp_path / "nope", "x"),
                          "nope")

    payload = torch.load(run_dir / "best.pt", weights_only=True)
    payload["format_version"] = 999
    save_checkpoint(tmp_path / "future.pt", payload)
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model", tmp_path / "future.pt", "x"),
                          "version 999")

    data = (run_dir / "best.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model",
                                   tmp_path / "truncated.pt", "x"), "truncated")
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model", run_dir,
                                   "--beam", "2", "--n-best", "3", "x"), "--n-best")


def test_plot_attention_writes_a_png(run_dir, tmp_path, monkeypatch, capsys):
    png = tmp_path / "attention.png"
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--max-len", "8",
                             "--plot-attention", png, "Jane visite l'Afrique en septembre.")
    assert code == 0, err
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert len(output_lines(out)) == 1
    png2 = tmp_path / "head.png"
    code, _, err = run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--max-len", "8",
                           "--plot-attention", png2, "--layer", "1", "--head", "2", "Bonjour.")
    assert code == 0, err
    assert png2.read_bytes().startswith(PNG_MAGIC)
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--plot-attention",
                                   png2, "--layer", "5", "Bonjour."), "--layer")
    assert_one_line_error(run_cli(monkeypatch, capsys, "translate", "--model", run_dir, "--plot-attention",
                                   png2, "Un.", "Deux."), "exactly one")


def test_plot_attention_of_a_model_without_attention_is_refused(rnn_no_attention_dir, tmp_path,
                                                                monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", rnn_no_attention_dir,
                             "--plot-attention", tmp_path / "a.png", "Bonjour.")
    assert_one_line_error((code, out, err), "no attention")
    # translating with it works
    code, out, err = run_cli(monkeypatch, capsys, "translate", "--model", rnn_no_attention_dir,
                             "Bonjour.", "")
    assert code == 0 and len(output_lines(out)) == 2


# ---------------------------------------------------------------------------------------------
# s2s eval


@pytest.fixture
def eval_files(tmp_path) -> tuple[Path, Path]:
    sentences = corpus_sentences()[:60:2]
    src, ref = tmp_path / "test.fr", tmp_path / "test.en"
    src.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    ref.write_text("\n".join(s.lower() for s in sentences) + "\n", encoding="utf-8")
    return src, ref


def test_eval_json_matches_sacrebleu(run_dir, eval_files, tmp_path, monkeypatch, capsys):
    src, ref = eval_files
    hyp = tmp_path / "hyp.txt"
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref,
                             "--beam", "2", "--json", "--output", hyp, "--by-length")
    assert code == 0, err
    report = json.loads(out)
    hypotheses, references = read_lines(hyp, "h"), read_lines(ref, "r")
    assert len(hypotheses) == report["sentences"] == 30
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    assert report["bleu"] == pytest.approx(bleu.score, abs=1e-3)
    assert report["brevity_penalty"] == pytest.approx(bleu.bp, abs=1e-4)  # beam output too short shows here
    assert report["length_ratio"] == pytest.approx(bleu.sys_len / bleu.ref_len, abs=1e-4)
    assert report["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score, abs=1e-3)
    assert report["ter"] == pytest.approx(sacrebleu.corpus_ter(hypotheses, [references]).score, abs=1e-3)
    assert set(report["signature"]) == {"bleu", "chrf", "ter"} and "nrefs:1" in report["signature"]["bleu"]
    assert report["beam"] == 2 and report["sentences_per_second"] > 0
    assert [b["bucket"] for b in report["by_length"]] == [label for label, _, _ in LENGTH_BUCKETS]
    assert sum(b["sentences"] for b in report["by_length"]) == 30
    assert Path(report["by_length_plot"]).read_bytes().startswith(PNG_MAGIC)


def test_eval_prepared_split_and_plain_output(run_dir, eval_files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--split", "dev")
    assert_one_line_error((code, out, err), "s2s data prepare", "--src")
    data = tmp_path / "data" / "tiny"
    data.mkdir(parents=True)
    (data / "dev.src").write_bytes(eval_files[0].read_bytes())
    (data / "dev.tgt").write_bytes(eval_files[1].read_bytes())
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--split", "dev", "--beam", "1")
    assert code == 0, err
    assert "BLEU" in out and "chrF" in out and "TER" in out and "signature: nrefs:1" in out


def test_eval_line_count_mismatch_is_one_line(run_dir, eval_files, tmp_path, monkeypatch, capsys):
    src, ref = eval_files
    short = tmp_path / "short.en"
    short.write_text("\n".join(read_lines(ref, "r")[:-3]) + "\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", short)
    assert_one_line_error((code, out, err), "30", "27")
    assert_one_line_error(run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src), "--ref")


def test_score_translations_and_buckets():
    hyps = ["the cat is black", "a dog", "hello there my friend how are you today"]
    refs = ["the cat is black", "the dog", "hello my friend how are you"]
    scores = score_translations(hyps, refs)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    buckets = bleu_by_length(["un deux", "un deux trois quatre cinq six", "x " * 40], hyps, refs)
    assert [b["sentences"] for b in buckets] == [1, 1, 0, 0, 0, 1]
    assert buckets[2]["bleu"] is None and buckets[0]["bleu"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------------
# plots


def test_plots_write_pngs(tmp_path):
    weights = torch.softmax(torch.randn(5, 7), dim=1)
    path = plot_attention(weights, [f"▁s{i}" for i in range(7)], [f"▁t{i}" for i in range(5)],
                          tmp_path / "a.png", "title")
    assert path.read_bytes().startswith(PNG_MAGIC)
    # pieces that show an entity symbol's words are marked, as on the page of `s2s serve`
    from seq2seq.plots import SYMBOL_COLOR, attention_figure

    figure = attention_figure(weights, ["▁Zoé", *[f"▁s{i}" for i in range(6)]], [f"▁t{i}" for i in range(5)], "",
                              ["⦅N1⦆", *[None] * 6], [None, None, "⦅N1⦆", None, None])
    marked = [label.get_text() for axis in (figure.axes[0].get_xticklabels(), figure.axes[0].get_yticklabels())
              for label in axis if label.get_color() == SYMBOL_COLOR]
    assert marked == ["▁Zoé", "▁t2"]
    buckets = bleu_by_length(["a b", "a b c d e f g"], ["x y", "p q"], ["x y", "p r"])
    two = plot_bleu_by_length({"with attention": buckets, "without": buckets}, tmp_path / "b.png")
    assert two.read_bytes().startswith(PNG_MAGIC)
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("step,epoch,train_loss,dev_loss,dev_bleu,dev_chrf,lr,tokens_per_s,elapsed_s\n"
                        "50,1,7.1,,,,0.0001,9000,10\n100,1,6.0,5.5,1.2,20.1,0.0002,9100,20\n"
                        "150,1,5.2,,,,0.0003,9050,30\n200,2,4.8,4.6,5.3,28.4,0.0002,9200,40\n",
                        encoding="utf-8")
    curves = plot_training_curves(csv_path, tmp_path / "curves.png")
    assert curves.read_bytes().startswith(PNG_MAGIC)


def test_eval_sweep_scores_every_setting_like_plain_eval(run_dir, eval_files, tmp_path, monkeypatch, capsys):
    src, ref = eval_files
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref, "--sweep",
                             "--sweep-beams", "1,3", "--sweep-alphas", "0,1", "--sweep-kinds", "gnmt,length", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    # greedy once (a penalty cannot change it), then beam 3 x 2 kinds x 2 alphas
    assert [(r["beam"], r["length_penalty_kind"], r["length_penalty"]) for r in rows] == [
        (1, "-", 0.0), (3, "gnmt", 0.0), (3, "gnmt", 1.0), (3, "length", 0.0), (3, "length", 1.0)]
    assert rows[1]["bleu"] == rows[3]["bleu"]  # alpha 0: both kinds are the plain sum
    for row in (rows[0], rows[4]):  # each row is what `s2s eval` with that setting scores
        options = ["--beam", str(row["beam"])]
        if row["beam"] > 1:
            options += ["--length-penalty", "1", "--length-penalty-kind", "length"]
        code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref,
                                 "--json", *options)
        assert code == 0, err
        assert json.loads(out)["bleu"] == pytest.approx(row["bleu"], abs=0.01)
    code, out, err = run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref, "--sweep")
    assert code == 0, err
    assert "BP" in out and "best BLEU" in out and "with --beam " in out  # the options that reproduce the best


def test_eval_sweep_errors_are_one_line(run_dir, eval_files, monkeypatch, capsys):
    src, ref = eval_files
    base = ("eval", "--model", run_dir, "--sweep")
    assert_one_line_error(run_cli(monkeypatch, capsys, *base), "--split dev")  # never tune on test
    assert_one_line_error(run_cli(monkeypatch, capsys, *base, "--src", src, "--ref", ref, "--sweep-alphas", "x"),
                          "--sweep-alphas")
    assert_one_line_error(run_cli(monkeypatch, capsys, *base, "--src", src, "--ref", ref, "--sweep-kinds", "wu"),
                          "gnmt")
    assert_one_line_error(run_cli(monkeypatch, capsys, *base, "--src", src, "--ref", ref, "--beam", "3"), "--sweep")
    assert_one_line_error(run_cli(monkeypatch, capsys, "eval", "--model", run_dir, "--src", src, "--ref", ref,
                                  "--length-penalty-kind", "wu"), "--length-penalty-kind must be one of gnmt, length")
