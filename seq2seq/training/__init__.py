"""Pieces of the training loop in `seq2seq/train.py`, one job each.

    schedule.py     learning-rate schedules with linear warm-up
    distributed.py  torchrun / DistributedDataParallel set-up and the few collectives the loop needs
    run_dir.py      the run directory: refuse/force/resume, train.log, metrics.csv, live progress
    validation.py   dev loss, greedy dev BLEU/chrF and sample translations
"""
