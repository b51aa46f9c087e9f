"""Measure training speed: non-padding target tokens/s, padding, peak memory, achieved GFLOP/s.

    python scripts/bench/bench_train.py --config configs/tatoeba-transformer.yaml [--set k=v ...]
                                  [--steps 20] [--repeats 3] [--warmup 3]

Runs the real training step (`Trainer.train_step`: collate, forward, label-smoothed loss,
backward, clipping, optimiser, progress) on the config's prepared data when it exists, else on the Tatoeba file
(S2S_SHARED_DATA or ../shared/data) prepared into a temporary directory. After `--warmup`
updates it times `--repeats` runs of `--steps` updates and prints one JSON object with the
median. FLOPs of one update are counted with torch.utils.flop_counter.FlopCounterMode (matmuls
and attention; element-wise work is not counted; the fused CPU LSTM/GRU kernel, which it cannot
see, is counted analytically), and compared with a matmul measured now on
the same threads, and with the nominal ~165 GFLOP/s of this 2-core machine. The machine is
shared: the load average is part of the output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from seq2seq.config import load_config
from seq2seq.training.distributed import Distributed

NOMINAL_GFLOPS = 165.0


def tatoeba_file() -> Path:
    root = os.environ.get("S2S_SHARED_DATA") or str(Path(__file__).resolve().parents[3] / "shared" / "data")
    path = Path(root) / "tatoeba-fra-eng" / "fra.txt"
    if not path.is_file():
        sys.exit(f"error: no prepared data for this config and {path} not found (set S2S_SHARED_DATA)")
    return path


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """What a plain float32 matmul achieves right now (the practical ceiling under this load)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - started) / 1e9


def _rnn_layer_flops(input_shape: Any, w_ih_shape: Any, w_hh_shape: Any, *args: Any, **kwargs: Any) -> int:
    """One direction of one recurrent layer: 2 x tokens x (W_ih + W_hh) multiply-adds."""
    tokens = math.prod(input_shape[:-1])
    return 2 * tokens * (math.prod(w_ih_shape) + math.prod(w_hh_shape))


def recurrent_flop_formulas() -> dict[Any, Any]:
    """FLOP formulas for PyTorch's fused CPU LSTM/GRU kernel, which FlopCounterMode cannot see.

    (nn.LSTM over a PackedSequence decomposes into matmuls that it does count; a call over a
    plain tensor, like the input-feeding decoder's one step at a time, runs mkldnn_rnn_layer.)
    """
    aten = torch.ops.aten
    if not hasattr(aten, "mkldnn_rnn_layer"):
        return {}
    return {aten.mkldnn_rnn_layer: _rnn_layer_flops,
            aten.mkldnn_rnn_layer_backward: lambda *a, **k: 2 * _rnn_layer_flops(*a, **k)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    parser.add_argument("--steps", type=int, default=20, help="updates per timed repetition")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates first")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (s2s train fixes its mmap threshold)")
    args = parser.parse_args()

    overrides = list(args.overrides)
    config = load_config(args.config, overrides)
    tmp = tempfile.TemporaryDirectory(prefix="s2s-bench-")
    data_dir = config.data.resolved_dir(config.name)
    if not (data_dir / "train.00000.index.npy").is_file():
        from seq2seq.data.prepare import prepare_corpus

        overrides += ["data.format=tsv", f"data.path={tatoeba_file()}", f"data.dir={tmp.name}/data",
                      "data.src_column=2", "data.tgt_column=1"]
        config = load_config(args.config, overrides)
        print(f"preparing {tatoeba_file()} into {tmp.name}/data ...", file=sys.stderr)
        prepare_corpus(config)
        data_dir = config.data.resolved_dir(config.name)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    threads = torch.get_num_threads()

    from seq2seq.allocator import bound_primitive_caches, return_large_blocks_to_the_os
    from seq2seq.train import Trainer

    if not args.default_malloc:
        return_large_blocks_to_the_os()  # as `s2s train` does
    bound_primitive_caches()  # as `s2s train` does

    config.train.max_steps = config.train.max_steps or 10 ** 9  # only so the config is complete
    trainer = Trainer(config, Distributed(), Path(tmp.name) / "run", resume=False, force=False, quiet=True)

    cpu_seconds = [0.0]

    def run_updates(count: int) -> tuple[int, float]:
        """`count` training steps exactly as `s2s train` makes them; (target tokens, seconds)."""
        tokens_before, started, cpu_started = trainer.state.tokens_seen, time.perf_counter(), time.process_time()
        for _ in range(count):
            trainer.train_step()
        cpu_seconds[0] = time.process_time() - cpu_started
        return trainer.state.tokens_seen - tokens_before, time.perf_counter() - started

    load_before = os.getloadavg()
    ceiling_now = matmul_gflops(threads)
    run_updates(args.warmup)

    # FLOPs of one update (matmuls, attention), per target token.
    with FlopCounterMode(display=False, custom_mapping=recurrent_flop_formulas()) as counter:
        flop_tokens, _ = run_updates(1)
    flops_per_token = counter.get_total_flops() / flop_tokens

    rates, cpu_rates = [], []
    for _ in range(args.repeats):
        tokens, seconds = run_updates(args.steps)
        rates.append(tokens / seconds)
        cpu_rates.append(tokens / cpu_seconds[0])
    rate = statistics.median(rates)

    from seq2seq.models import count_parameters

    padding_target, padding_source = trainer.data.padding()
    result = {
        "config": str(args.config),
        "overrides": args.overrides,
        "model": config.model.type,
        "parameters": count_parameters(trainer.raw_model),
        "threads": threads,
        "batch_tokens": config.train.batch_tokens,
        "accumulate": config.train.accumulate,
        "train_pairs": trainer.data.pairs,
        "steps_per_repeat": args.steps,
        "repeats": args.repeats,
        "tokens_per_s": round(rate, 1),
        "tokens_per_s_all": [round(r, 1) for r in rates],
        "tokens_per_s_best": round(max(rates), 1),  # the repetition least disturbed by other processes
        # tokens per second of this process's CPU time: with 1 thread, the rate of one core that
        # is not shared (the wall-clock rate suffers when other processes take the CPU)
        "tokens_per_cpu_s": round(statistics.median(cpu_rates), 1),
        "padding_target": round(padding_target, 4),
        "padding_source": round(padding_source, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "gflop_per_update_token": round(flops_per_token / 1e9, 5),
        "achieved_gflops": round(flops_per_token * rate / 1e9, 1),
        "matmul_gflops_now": round(ceiling_now, 1),
        "share_of_nominal_165": round(flops_per_token * rate / 1e9 / NOMINAL_GFLOPS, 3),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "data_dir": str(data_dir),
    }
    trainer.log.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
