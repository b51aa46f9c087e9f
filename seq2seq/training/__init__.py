"""Pieces of the training loop in `seq2seq/train.py`, one job each.

    state.py        where training stands (TrainState, saved in last.pt)
    stopping.py     stop rules, divergence, the run's clock, Ctrl-C / SIGTERM
    resume.py       what --resume checks (config, vocabulary, data) and the random streams it restores
    epochs.py       the training data: shards, corpus weights, augmentation, the loader of the updates
    update.py       the steps of one update: backward, the totals' one all-reduce, learning rate, clipping
    progress.py     progress lines, validation reports, budget and ETA
    run_dir.py      the run directory: refuse/force/resume, train.log, metrics.csv, live bar
    validation.py   dev loss, greedy dev BLEU/chrF and sample translations (through the Translator)
    tensorboard.py  TensorBoard event files beside metrics.csv (train.tensorboard), rank 0; never fails a run
    loss.py         the label-smoothed loss fused with the output projection
    schedule.py     learning-rate schedules with linear warm-up (linear, cosine: decay to the budget's end)
    optimizer.py    Adam / AdamW
    ema.py          the moving average of the weights (train.ema_decay)
    distributed.py  torchrun / DistributedDataParallel set-up and the few collectives the loop needs
"""
