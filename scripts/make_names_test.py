"""Make a names test and a digits test (with expect files for `s2s eval --expect`) from a
prepared data directory's test split.

    python scripts/make_names_test.py --data-dir data/tatoeba-fr-en --out-dir data/tatoeba-fr-en-names
    s2s eval --model runs/tatoeba-transformer --src data/tatoeba-fr-en-names/names.src \
        --ref data/tatoeba-fr-en-names/names.tgt --expect data/tatoeba-fr-en-names/names.expect

names.{src,tgt,expect}: the test pairs whose two sides share a name (found by the rule of the
name augmentation, seq2seq/entities/names.py), with each shared name replaced on both sides by a
name that never occurs in train.src or train.tgt (checked case-insensitively against every
whitespace token, its punctuation-stripped core and every run of letters in it), drawn from
`held_out_names()` (below), a list disjoint from the augmentation's, and spelled without unknown pieces
by the data's SentencePiece model. names.expect holds the new names of each line.

digits.{src,tgt,expect}: the test pairs whose source holds digits; digits.expect holds the
source's digit strings ("25", "12", "2019").

dates.{src,tgt,expect}: the test pairs that name the same month or weekday on both sides
(seq2seq/entities/dates.py); dates.expect holds the target's words for them ("September").

places.{src,tgt,expect}: the test pairs that name the same place once on each side
(seq2seq/entities/places.py); places.expect holds the target's words for them ("Africa", "United States").

--max N keeps a seeded sample of at most N pairs in each test (source order kept).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

from seq2seq.data.tokenizer import load_tokenizers
from seq2seq.entities import (augmentation_names, date_words, draw_names, invented_names, shared_dates, shared_names,
                              shared_places, substitute_names, usable_names)
from seq2seq.errors import UserError
from seq2seq.files import read_lines, write_lines

# Real names kept out of the augmentation list, for the held-out names test.
_HELD_OUT = """
Anouk Bartholomew Cosima Desmond Eulalie Fenella Griselda Horatio Isolde Jolyon Kesi Lysander
Marisol Nkechi Octavia Peregrine Quilla Radomir Sunniva Thaddeus Ulrika Valdemar Wilhelmina Yevgenia
Zebulon Aurelio Berenike Casimir Dagny Eberhard Fiammetta Gwendolyn Hallvard Ifeoma Jarvis Kunigunde
Leocadia Mstislav Nanami Ottilie Pancrazio Rosalind Sigismund Tancredi Ursula Vasilisa Winthrop
Xanthe Yolanda Zenobia Adaeze Bolesław Cordelia Dervla Evander Filomena Gideon Hyacinth Ignatius
Jacinta Kasimir Ludovica Marcellus Nerissa Orlando Philippa Quentin Rosamund Severin Theodora
Ulysses Venetia Wendeline Ysolde Zephyrine Ambrose Bathsheba Crispin Delphine Ezekiel Fortunata
Gottfried Honoria Isidore Jemima Kenelm Lucinda Mordecai Nephele Oriana Percival Roderick Sabrina
Tobiah Umberto Vittoria Waldemar Xavier Yusuf Zuleika Akosua Bongani Chiamaka Dumisani Efua
Fungai Ginikanwa Hamisi Itzel Jacobo Kalani Lautaro Mahina Nahuel Oyelaran Pachacuti Quetzalli
Rewi Sefa Tupac Uzoma Vaitiare Wairimu Yaretzi Zenzele Atsuko Bunmi Chiyoko Dong-hyun Eun-ji
Fumiko Gyeong Haruki Isamu Jae-won Kaede Lien Masaru Naoki Osamu Phuong Qiang Ryoko Shigeru
Tomoko Ulugbek Vuong Xiuying Yoshiro Zhenya
"""

# Other syllables for the held-out invented names.
_ONSETS_HELD = ["c", "q", "kh", "th", "ph", "gl", "fl", "sk", "st", "x", "zh", "ts", "bl", "cr"]
_VOWELS_HELD = ["a", "e", "i", "o", "u", "y", "ae", "ia", "ë"]
_CODAS_HELD = ["", "", "k", "nd", "st", "lt", "rk", "sh", "ng"]




@lru_cache(maxsize=1)
def held_out_names() -> tuple[str, ...]:
    """Names never in the augmentation's list (real ones, then 400 invented from other syllables);
    each one whitespace token, NFKC-normal, capitalised."""
    augmentation = set(augmentation_names())
    real = [name for name in dict.fromkeys(unicodedata.normalize("NFKC", word) for word in _HELD_OUT.split())
            if name not in augmentation]
    invented = invented_names(400, 34, _ONSETS_HELD, _VOWELS_HELD, _CODAS_HELD, augmentation | set(real),
                              most_syllables=2)
    return tuple(real + invented)


_LETTERS = re.compile(r"[^\W\d_]+")
_EDGES = "\"'’“”«»‘‚„‹›()[]{}.,;:!?…*_-—–¡¿"


def training_words(data_dir: Path) -> set[str]:
    """Every whitespace token of train.src and train.tgt, its stripped core and its runs of
    letters, lower-cased."""
    words: set[str] = set()
    for side in ("src", "tgt"):
        paths = sorted(data_dir.glob(f"train.[0-9][0-9][0-9][0-9][0-9].{side}")) or [data_dir / f"train.{side}"]
        for line in (line for path in paths for line in read_lines(path, "training file")):
            for token in line.lower().split():
                words.add(token)
                words.add(token.strip(_EDGES))
                words.update(_LETTERS.findall(token))
    return words


def sample(indices: list[int], most: int | None, rng: random.Random) -> list[int]:
    return sorted(rng.sample(indices, most)) if most is not None and len(indices) > most else indices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a prepared data directory (s2s data prepare)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where names.* and digits.* go")
    parser.add_argument("--seed", type=int, default=1, help="seed of the name draws and of --max's sample")
    parser.add_argument("--max", type=int, default=None, help="at most this many pairs per test")
    args = parser.parse_args()
    try:
        make_tests(args.data_dir, args.out_dir, args.seed, args.max)
    except UserError as err:
        sys.exit(f"error: {err}")


def make_tests(data_dir: Path, out_dir: Path, seed: int, most: int | None) -> dict[str, int]:
    """Write the tests into `out_dir`; return (and print) their counts."""
    config = {"joint_vocab": (data_dir / "spm.model").is_file(), "src_lang": "fr", "tgt_lang": "en"}
    if (data_dir / "manifest.json").is_file():  # a directory made by hand has none: the defaults above
        try:
            config = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))["config"]
        except (OSError, ValueError, KeyError) as err:
            raise UserError(f"{data_dir}/manifest.json: unreadable ({err})") from None
    src_tok, tgt_tok = load_tokenizers(data_dir, config.get("joint_vocab", True))
    sources = read_lines(data_dir / "test.src", "test source")
    targets = read_lines(data_dir / "test.tgt", "test target")
    if len(sources) != len(targets):
        raise UserError(f"{data_dir}/test.src and test.tgt have {len(sources)} and {len(targets)} lines")
    seen = training_words(data_dir)
    spelled = usable_names(held_out_names(), src_tok, tgt_tok)
    pool = [name for name in spelled if name.lower() not in seen]
    if len(pool) < 10:
        raise UserError(f"only {len(pool)} held-out names are unseen in {data_dir}/train.* and spelled by its vocabulary")
    rng = random.Random(seed)
    langs = config.get("src_lang", "fr"), config.get("tgt_lang", "en")

    with_names = [i for i, (s, t) in enumerate(zip(sources, targets)) if shared_names(s, t)]
    names_src, names_tgt, names_expect = [], [], []
    for i in sample(with_names, most, rng):
        mapping = draw_names(shared_names(sources[i], targets[i]), pool, rng)
        names_src.append(substitute_names(sources[i], mapping, config.get("src_lang", "")))
        names_tgt.append(substitute_names(targets[i], mapping, config.get("tgt_lang", "")))
        names_expect.append(" ".join(mapping.values()))

    with_digits = [i for i, s in enumerate(sources) if re.search(r"\d", s)]
    chosen = sample(with_digits, most, rng)
    with_dates = [i for i, (s, t) in enumerate(zip(sources, targets)) if shared_dates(s, t, *langs)]
    dated = sample(with_dates, most, rng)
    dates_expect = [" ".join(date_words(targets[i], langs[1])[meaning][0] for meaning in shared_dates(
        sources[i], targets[i], *langs)) for i in dated]
    with_places = [i for i, (s, t) in enumerate(zip(sources, targets)) if shared_places(s, t, *langs)]
    placed = sample(with_places, most, rng)
    places_expect = [" ".join(words.removeprefix("the ").removeprefix("The ")
                              for _, words in shared_places(sources[i], targets[i], *langs)) for i in placed]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in (("names.src", names_src), ("names.tgt", names_tgt), ("names.expect", names_expect),
                        ("digits.src", [sources[i] for i in chosen]), ("digits.tgt", [targets[i] for i in chosen]),
                        ("digits.expect", [" ".join(re.findall(r"\d+", sources[i])) for i in chosen]),
                        ("dates.src", [sources[i] for i in dated]), ("dates.tgt", [targets[i] for i in dated]),
                        ("dates.expect", dates_expect),
                        ("places.src", [sources[i] for i in placed]), ("places.tgt", [targets[i] for i in placed]),
                        ("places.expect", places_expect)):
        write_lines(out_dir / name, lines)
    counts = {"test_pairs": len(sources), "with_shared_name": len(with_names), "names_test": len(names_src),
              "held_out_names": len(held_out_names()), "spelled": len(spelled), "unseen_in_train": len(pool),
              "with_digits": len(with_digits), "digits_test": len(chosen), "dates_test": len(dated),
              "places_test": len(placed)}
    print(f"{data_dir}: {len(sources):,} test pairs; {len(with_names):,} share a name on both sides -> "
          f"{len(names_src):,} in {out_dir}/names.* (new names from {len(pool):,} held-out names unseen in "
          f"train.*: {len(held_out_names()):,} listed, {len(spelled):,} spelled by the vocabulary); "
          f"{len(with_digits):,} have digits in the source -> {len(chosen):,} in {out_dir}/digits.*; "
          f"{len(with_dates):,} name a month or weekday on both sides -> {len(dated):,} in {out_dir}/dates.*; "
          f"{len(with_places):,} name a place once on each side -> {len(placed):,} in {out_dir}/places.*")
    return counts


if __name__ == "__main__":
    main()
