#!/usr/bin/env bash
# From a fresh clone to a translated sentence: install, get Tatoeba fra-eng, prepare it, train a
# small French->English Transformer for a fixed time budget, evaluate it, translate a few lines.
#
#   bash scripts/quickstart.sh                 # 10 minutes of training (default)
#   S2S_MINUTES=30 bash scripts/quickstart.sh  # a longer budget
#   bash scripts/quickstart.sh --from DIR      # corpus from a local copy (no internet)
#
# Environment: S2S_MINUTES (training budget, default 10), S2S_CONFIG (default
# configs/tatoeba-transformer.yaml), S2S_CORPUS_FROM (local copy of the corpus; by default
# ../shared/data/tatoeba-fra-eng when it exists), S2S_MIRROR (a mirror of the download URL).
# Running it again reuses every finished stage: install, download, prepared data, trained model.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${S2S_MINUTES:-10}
CONFIG=${S2S_CONFIG:-configs/tatoeba-transformer.yaml}
CORPUS_FROM=${S2S_CORPUS_FROM:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --from) CORPUS_FROM=$2; shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        --config) CONFIG=$2; shift 2 ;;
        *) echo "quickstart: unknown option $1 (use --from DIR, --minutes N, --config FILE)" >&2; exit 2 ;;
    esac
done
if [ -z "$CORPUS_FROM" ] && [ -d ../shared/data/tatoeba-fra-eng ]; then
    CORPUS_FROM=../shared/data/tatoeba-fra-eng
fi
PYTHON=${PYTHON:-python3}
stage() { printf '\n== %s\n' "$*" >&2; }

# Always this interpreter and this checkout: another `s2s` on PATH (or the seq2seq folder in
# the current directory) must not stand in for an installation.
s2s() { "$PYTHON" -m seq2seq "$@"; }

stage "1/6 install s2s (torch CPU build first)"
if ! "$PYTHON" -I -c "import torch" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
if ! "$PYTHON" -I -c "import sys, pathlib, seq2seq, yaml, typer, sentencepiece, sacrebleu
sys.exit(pathlib.Path(seq2seq.__file__).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())" "$PWD" 2>/dev/null
then
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -e .
fi
s2s --version

stage "2/6 get the Tatoeba fra-eng corpus"
if [ -n "$CORPUS_FROM" ]; then
    s2s data download tatoeba-fra-eng --from "$CORPUS_FROM"
else
    s2s data download tatoeba-fra-eng
fi

stage "3/6 prepare: normalise, filter, split, train SentencePiece"
# From the copy step 2 put under data/raw (the config's own path points at ../shared/data);
# the prepared corpus is identified by its content, so either path gives the same directory.
s2s data prepare --config "$CONFIG" --set data.path=data/raw/tatoeba-fra-eng/fra.txt

NAME=$("$PYTHON" -I -c "from seq2seq.config import load_config; print(load_config('$CONFIG').name)")
RUN=runs/$NAME
stage "4/6 train for $MINUTES minutes into $RUN"
if [ -f "$RUN/last.pt" ]; then
    echo "$RUN exists: resuming (a finished run stops at once)" >&2
    s2s train --config "$CONFIG" --set train.max_minutes="$MINUTES" --resume --quiet
else
    s2s train --config "$CONFIG" --set train.max_minutes="$MINUTES"
fi

stage "5/6 evaluate on the held-out test split"
s2s eval --model "$RUN" --split test

stage "6/6 translate"
SENTENCES=("Jane visite l'Afrique en septembre." "Je ne sais pas." "Il fait très beau aujourd'hui." "Où est la gare ?")
printf '%s\n' "${SENTENCES[@]}" > "$RUN/quickstart.fr"
s2s translate --model "$RUN" --input "$RUN/quickstart.fr" --output "$RUN/quickstart.en"
paste -d '\n' "$RUN/quickstart.fr" "$RUN/quickstart.en" | sed 'n;s/^/  -> /'
