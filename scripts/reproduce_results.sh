#!/usr/bin/env bash
# Train and score the runs behind docs/results.md. Each seed is its own run of CONFIG for MINUTES
# (the budget shapes the RNN configs' schedule, so a snapshot of a longer run is not the same
# thing), scored by scripts/record_run.py into one record,
# docs/results/<config>.<series>.<minutes>min.seed<seed>.json; then docs/results.md is written
# again from all records and, when the three Tatoeba configs' seed-1 records have them, the
# BLEU-by-length plots docs/bleu-by-length-{tatoeba,multi30k}.png. Each record scores the long-input
# tests too (scripts/make_long_test.py, made once in the data directory; scripts/long_input.py).
#
#   bash scripts/reproduce_results.sh                                         # the README's table (below)
#   bash scripts/reproduce_results.sh configs/tatoeba-transformer.yaml 10 1 2 3
#   bash scripts/reproduce_results.sh configs/tatoeba-rnn.yaml 30 1           # one 30-minute run
#   S2S_SERIES=lr-4e-3 S2S_NOTE="peak lr 4e-3" S2S_SET="train.lr=0.004" \
#       bash scripts/reproduce_results.sh configs/tatoeba-rnn.yaml 10 1       # a change tried
#   S2S_DECODE="--length-penalty 1.3" S2S_SERIES=... bash scripts/reproduce_results.sh ...  # finished runs scored again
#
# Without arguments: configs/tatoeba-transformer.yaml and configs/tatoeba-rnn.yaml with seeds 1 2 3
# and configs/tatoeba-rnn-noattn.yaml with seed 1, 10 minutes each: about 85 minutes on 2 cores
# (MINUTES + 2 a run). Environment: S2S_SERIES (the records' series, default at-<short commit>),
# S2S_NOTE (what the series is), S2S_SET (config overrides, "key=value key=value"), S2S_DECODE
# (decoding overrides for the scoring), S2S_MULTI30K (Multi30k val for seed 1's by-length scores,
# default ../shared/data/multi30k-fr-en). A run directory that exists is resumed (a finished run
# stops at once), so a second call only scores again.
#
# Run it on an idle machine (check `uptime`): another busy process on the 2 cores buys fewer
# updates in the same minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
s2s() { "$PYTHON" -m seq2seq "$@"; }

INVOCATION="$(for v in S2S_SERIES S2S_NOTE S2S_SET S2S_DECODE; do
    if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi
done)bash scripts/reproduce_results.sh${*:+ $*}"
COMMIT=$(git rev-parse --short HEAD)
SERIES=${S2S_SERIES:-at-$COMMIT}
MULTI30K=${S2S_MULTI30K:-../shared/data/multi30k-fr-en}
read -r -a EXTRA <<< "${S2S_SET:-}"
SETS=()
for kv in "${EXTRA[@]}"; do SETS+=(--set "$kv"); done

runs() {  # runs CONFIG MINUTES SEED...: train each seed, then write its record
    local config=$1 minutes=$2 seed run data name
    shift 2
    s2s data prepare --config "$config"
    data=$("$PYTHON" -I -c "from seq2seq.config import load_config; c = load_config('$config'); print(c.data.resolved_dir(c.name))")
    name=$(basename "$config" .yaml)
    [ -f "$data/names-test/places.expect" ] || "$PYTHON" scripts/make_names_test.py --data-dir "$data" --out-dir "$data/names-test"
    [ -f "$data/long-test/long.src" ] || "$PYTHON" scripts/make_long_test.py --data-dir "$data" --out-dir "$data/long-test"
    for seed in "$@"; do
        run=runs/$name-$SERIES-${minutes}min-seed$seed
        local train=(s2s train --config "$config" --set train.max_minutes="$minutes" --set train.seed="$seed"
                     "${SETS[@]}" --run-dir "$run" --quiet)
        echo "== $name, seed $seed: $minutes minutes into $run (uptime: $(uptime))" >&2
        resume=()
        [ -f "$run/last.pt" ] && resume=(--resume)
        "${train[@]}" "${resume[@]}"
        multi30k=()
        [ "$seed" = 1 ] && [ -f "$MULTI30K/val.fr" ] && multi30k=(--multi30k "$MULTI30K")
        "$PYTHON" scripts/record_run.py --run "$run" --config "$config" --minutes "$minutes" --seed "$seed" \
            --series "$SERIES" --description "${S2S_NOTE:-Runs of $config at commit $COMMIT (scripts/reproduce_results.sh).}" \
            --command "$INVOCATION" --train-command "$(printf '%q ' "${train[@]}" | sed 's/ $//')" --tests "$data/names-test" \
            --long "$data/long-test" "${multi30k[@]}"
    done
}

if [ $# -gt 0 ]; then
    seeds=("${@:3}")
    [ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
    runs "$1" "${2:-10}" "${seeds[@]}"
else
    runs configs/tatoeba-transformer.yaml 10 1 2 3
    runs configs/tatoeba-rnn.yaml 10 1 2 3
    runs configs/tatoeba-rnn-noattn.yaml 10 1
fi

record() { echo "docs/results/$1.$SERIES.${2:-10}min.seed1.json"; }
minutes=${2:-10}
files=("$(record tatoeba-transformer "$minutes")" "$(record tatoeba-rnn "$minutes")" "$(record tatoeba-rnn-noattn "$minutes")")
if [ -f "${files[0]}" ] && [ -f "${files[1]}" ] && [ -f "${files[2]}" ]; then
    for set in test multi30k_val; do
        out=docs/bleu-by-length-$([ $set = test ] && echo tatoeba || echo multi30k).png
        where=$([ $set = test ] && echo "Tatoeba test" || echo "Multi30k val")
        "$PYTHON" scripts/plot_by_length.py --set "$set" "Transformer=${files[0]}" "RNN + attention=${files[1]}" \
            "RNN, no attention=${files[2]}" --output "$out" \
            --title "BLEU by source length: $where, $minutes minutes of training each, beam 5" \
            || echo "(no $where scores by length in those records: no plot)" >&2
    done
fi
"$PYTHON" scripts/results_table.py
echo "Cite each new record in a page of docs/ (tests/test_docs.py checks it), or delete it." >&2
