#!/usr/bin/env bash
# The README's headline figure: one config trained for a budget with several seeds, each its own
# run (the budget shapes the schedule, so a snapshot of a longer run is not the same thing), each
# scored once on the test split with beam search and greedy, and on the names, digits, dates and places
# tests (copy rates; scripts/make_names_test.py), and asked for the card's sentence. Prints the mean and range. About (MINUTES + 2) minutes per seed on 2 cores.
#
#   bash scripts/seed_runs.sh                                          # quickstart config, 10 min, seeds 1 2 3
#   bash scripts/seed_runs.sh configs/tatoeba-rnn.yaml 30 1            # one 30-minute RNN run
#   S2S_SET="train.schedule=linear train.ema_decay=0.999" bash scripts/seed_runs.sh configs/tatoeba-transformer.yaml 30 1
#   S2S_TAG=noph S2S_SET="train.placeholders=0" bash scripts/seed_runs.sh     # a variant, in runs of its own
#   S2S_DECODE="--length-penalty 1.3" bash scripts/seed_runs.sh   # finished runs scored again, decoding otherwise
#
# Run it on an idle machine (check `uptime`): another busy process on the 2 cores buys fewer
# updates in the same minutes. Runs go to runs/<name>-<m>min-seed<k>/ (resumed if there), JSON to
# docs/results/<name>.<m>min.seed<k>.json; with S2S_TAG=T, runs/<name>-T-<m>min-seed<k>/ and
# docs/results/<name>-T.<m>min.seed<k>.json.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${1:-configs/tatoeba-transformer.yaml}
MINUTES=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2 3)
read -r -a EXTRA <<< "${S2S_SET:-}"
SETS=()
for kv in "${EXTRA[@]}"; do SETS+=(--set "$kv"); done

s2s data prepare --config "$CONFIG"
DATA=$(python -I -c "from seq2seq.config import load_config; c = load_config('$CONFIG'); print(c.data.resolved_dir(c.name))")
NAME=$(python -I -c "from seq2seq.config import load_config; print(load_config('$CONFIG').name)")
NAME=$NAME${S2S_TAG:+-$S2S_TAG}
TESTS=$DATA/names-test
[ -f "$TESTS/places.expect" ] || python scripts/make_names_test.py --data-dir "$DATA" --out-dir "$TESTS"
mkdir -p docs/results

score() {  # score RUN OPTIONS... -> one JSON object
    s2s eval --model "$1" "${@:2}" --json 2>/dev/null
}

for seed in "${SEEDS[@]}"; do
    run=runs/$NAME-${MINUTES}min-seed$seed
    echo "== seed $seed: $MINUTES minutes into $run (uptime: $(uptime))" >&2
    resume=()
    [ -f "$run/last.pt" ] && resume=(--resume)
    s2s train --config "$CONFIG" --set train.max_minutes="$MINUTES" --set train.seed="$seed" "${SETS[@]}" \
        --run-dir "$run" --quiet "${resume[@]}"
    python - "$run" "$DATA" "$TESTS" "docs/results/$NAME.${MINUTES}min.seed$seed.json" <<'EOF'
import json, subprocess, sys
import os, shlex
run, data, tests, out = sys.argv[1:]
decode = shlex.split(os.environ.get("S2S_DECODE", ""))  # overrides of the run's decoding settings
def score(*options):
    done = subprocess.run(["s2s", "eval", "--model", run, "--json", *options, *decode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
beam, greedy = score("--split", "test"), score("--split", "test", "--beam", "1")
names = score("--src", f"{tests}/names.src", "--ref", f"{tests}/names.tgt", "--expect", f"{tests}/names.expect")
digits = score("--src", f"{tests}/digits.src", "--ref", f"{tests}/digits.tgt", "--expect", f"{tests}/digits.expect")
dates = score("--src", f"{tests}/dates.src", "--ref", f"{tests}/dates.tgt", "--expect", f"{tests}/dates.expect")
places = score("--src", f"{tests}/places.src", "--ref", f"{tests}/places.tgt", "--expect", f"{tests}/places.expect")
card = subprocess.run(["s2s", "translate", "--model", run, *decode, "Jane visite l'Afrique en septembre."],
                      capture_output=True, text=True, check=True).stdout.strip()
log = open(f"{run}/train.log", encoding="utf-8").read().splitlines()
result = {"run": run, "decode_overrides": " ".join(decode), "test_beam": {k: beam[k] for k in ("beam", "bleu", "brevity_penalty", "chrf", "ter")},
          "test_greedy": {k: greedy[k] for k in ("bleu", "brevity_penalty", "chrf", "ter")},
          "names_copy_rate": names["copy_rate"], "digits_copy_rate": digits["copy_rate"],
          "dates_copy_rate": dates["copy_rate"], "places_copy_rate": places["copy_rate"],
          "places_bleu": places["bleu"], "card": card,
          "stopped": [line for line in log if " stopped after step " in line][-1]}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result))
EOF
done

python - "$NAME" "$MINUTES" "${SEEDS[@]}" <<'EOF'
import json, sys
name, minutes, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [json.load(open(f"docs/results/{name}.{minutes}min.seed{s}.json")) for s in seeds]
for key in ("test_beam", "test_greedy"):
    values = [r[key]["bleu"] for r in rows]
    print(f"{name}, {minutes} min, {key.replace('_', ' ')} BLEU over seeds {' '.join(seeds)}: mean "
          f"{sum(values) / len(values):.2f}, range {min(values):.2f}-{max(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})")
EOF
