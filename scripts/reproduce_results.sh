#!/usr/bin/env bash
# The README's results table, from scratch: train each example model for 30 minutes (keeping
# the model a 10-minute run ends with), score both checkpoints on the Tatoeba test split and on
# Multi30k val (out of domain), and time translation. About 1 h 50 min on 2 cores.
#
#   bash scripts/reproduce_results.sh                       # all three models
#   bash scripts/reproduce_results.sh tatoeba-rnn           # only some
#
# Run it on an idle machine (check `uptime`): another busy process on the 2 cores can cut
# torch's speed several times, and the time budget then buys fewer updates. Results (JSON)
# go to docs/results/; runs to runs/<config>-30min/.
set -euo pipefail
cd "$(dirname "$0")/.."

MULTI30K=${S2S_MULTI30K:-../shared/data/multi30k-fr-en}
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(tatoeba-transformer tatoeba-rnn tatoeba-rnn-noattn)
mkdir -p docs/results

s2s data prepare --config configs/tatoeba-transformer.yaml   # shared by all three configs

for name in "${CONFIGS[@]}"; do
    run=runs/$name-30min
    echo "== $name: 30 minutes of training into $run (uptime: $(uptime))" >&2
    if [ -f "$run/last.pt" ]; then
        s2s train --config "configs/$name.yaml" --set train.max_minutes=30 --set train.snapshot_minutes=10 \
            --run-dir "$run" --resume --quiet
    else
        s2s train --config "configs/$name.yaml" --set train.max_minutes=30 --set train.snapshot_minutes=10 \
            --run-dir "$run" --quiet
    fi
    mkdir -p "$run/eval"
    for checkpoint in best-at-10min best; do
        minutes=$([ "$checkpoint" = best ] && echo 30 || echo 10)
        echo "== $name after $minutes minutes: Tatoeba test, Multi30k val" >&2
        s2s eval --model "$run/$checkpoint.pt" --split test --by-length --json \
            --output "$run/eval/test.$minutes.en" > "docs/results/$name.$minutes.test.json"
        s2s eval --model "$run/$checkpoint.pt" --src "$MULTI30K/val.fr" --ref "$MULTI30K/val.en" \
            --by-length --json --output "$run/eval/multi30k.$minutes.en" \
            > "docs/results/$name.$minutes.multi30k.json"
    done
    echo "== $name: translation speed on 1,000 dev sentences" >&2
    python scripts/bench_decode.py --model "$run" --src data/tatoeba-fr-en/dev.src --sentences 1000 \
        > "docs/results/$name.decode.json"
done
