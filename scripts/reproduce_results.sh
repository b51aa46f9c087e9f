#!/usr/bin/env bash
# The README's comparison of the three example models: each config trained for MINUTES (default
# 10) as its own run, seed 1, and scored by scripts/seed_runs.sh (test split with beam search and
# greedy, names/digits/dates tests, the card's sentence); then BLEU by source length on the
# Tatoeba test split and on Multi30k val (out of domain), the by-length plots, and translation
# speed (S2S_BENCH=0 skips it). Each model gets its own budget: the RNN configs decay the learning rate to the end of
# it, so the first 10 minutes of a 30-minute run are not a 10-minute run. About MINUTES + 4
# minutes per config on 2 cores.
#
#   bash scripts/reproduce_results.sh                            # all three models, 10 minutes
#   S2S_MINUTES=30 bash scripts/reproduce_results.sh tatoeba-rnn # one model, 30 minutes
#   S2S_TAG=T bash scripts/reproduce_results.sh                  # runs/<config>-T-<m>min-seed1 (seed_runs.sh)
#
# Run it on an idle machine (check `uptime`): another busy process on the 2 cores can cut
# torch's speed several times, and the time budget then buys fewer updates. Results (JSON)
# go to docs/results/, plots to docs/bleu-by-length-{tatoeba,multi30k}.png when all three ran.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${S2S_MINUTES:-10}
MULTI30K=${S2S_MULTI30K:-../shared/data/multi30k-fr-en}
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(tatoeba-transformer tatoeba-rnn tatoeba-rnn-noattn)
mkdir -p docs/results

for name in "${CONFIGS[@]}"; do
    bash scripts/seed_runs.sh "configs/$name.yaml" "$MINUTES" 1
    tagged=$name${S2S_TAG:+-$S2S_TAG}
    run=runs/$tagged-${MINUTES}min-seed1
    mkdir -p "$run/eval"
    echo "== $tagged: BLEU by length on the Tatoeba test split and Multi30k val" >&2
    s2s eval --model "$run" --split test --by-length --json --output "$run/eval/test.en" \
        > "docs/results/$tagged.${MINUTES}min.test.json"
    if [ -f "$MULTI30K/val.fr" ]; then
        s2s eval --model "$run" --src "$MULTI30K/val.fr" --ref "$MULTI30K/val.en" --by-length --json \
            --output "$run/eval/multi30k.en" > "docs/results/$tagged.${MINUTES}min.multi30k.json"
    fi
    if [ "${S2S_BENCH:-1}" != 0 ]; then  # S2S_BENCH=0: no speed figures (saves ~4 minutes a model)
        echo "== $tagged: translation speed on 1,000 dev sentences" >&2
        python scripts/bench_decode.py --model "$run" --src data/tatoeba-fr-en/dev.src --sentences 1000 \
            > "docs/results/$tagged.${MINUTES}min.decode.json"
    fi
done

result() { echo "docs/results/$1${S2S_TAG:+-$S2S_TAG}.${MINUTES}min.$2.json"; }
for set in test multi30k; do
    files=("$(result tatoeba-transformer $set)" "$(result tatoeba-rnn $set)" "$(result tatoeba-rnn-noattn $set)")
    if [ -f "${files[0]}" ] && [ -f "${files[1]}" ] && [ -f "${files[2]}" ]; then
        where=$([ $set = test ] && echo "Tatoeba test" || echo "Multi30k val")
        python scripts/plot_by_length.py "Transformer=${files[0]}" "RNN + attention=${files[1]}" \
            "RNN, no attention=${files[2]}" --output "docs/bleu-by-length-$([ $set = test ] && echo tatoeba || echo multi30k).png" \
            --title "BLEU by source length: $where, $MINUTES minutes of training each, beam 5"
    fi
done
