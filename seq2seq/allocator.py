"""glibc malloc settings for the two kinds of work s2s does (Linux; a no-op elsewhere).

Torch on CPU allocates tensors with malloc. glibc serves a request above the mmap threshold
with fresh pages from the OS and gives them back on free; below it, from the heap, which rarely
shrinks. By default the threshold rises to the size of every large block freed (up to 32 MB),
so after the first few updates almost every activation of a training step lives in the heap,
and each batch of a new shape leaves holes there: a 30-minute RNN run grew to 1.6 GB.
"""

from __future__ import annotations

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4


def _mallopt(*settings: tuple[int, int]) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except (OSError, AttributeError):
        return False
    return all(bool(libc.mallopt(param, value)) for param, value in settings)


def return_large_blocks_to_the_os(threshold: int = 4 << 20) -> bool:
    """Training: blocks of `threshold` bytes or more are always mmap'd and unmapped on free.

    A fixed threshold stops the dynamic rise, so the big activations (feed-forward layers,
    the loss's logit blocks) never fragment the heap. `scripts/bench/bench_train.py` (3 x 10 updates
    of 2,000 tokens) with and without it (--default-malloc): peak RSS 891 vs 914 MB for the
    Transformer, 900 vs 961 MB for the bi-LSTM; 2,416 vs 2,528 tok/s (within the spread of the
    repeats) and 2,404 vs 2,763 (not: the bi-LSTM may pay for it; to be measured again). A lower
    threshold saves more memory but pays in page faults at every step.
    """
    return _mallopt((M_MMAP_THRESHOLD, threshold))


def keep_large_tensors_on_the_heap() -> bool:
    """Decoding: let freed large tensors be reused instead of mapping fresh zeroed pages.

    The decoder cache of a few hundred beam rows is reallocated at every step; served by mmap its
    pages fault in one by one, which made row selection of the cache several times slower on
    this kind of VM. Decoding allocates few distinct shapes, so the heap stays compact.
    """
    return _mallopt((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**30))


# oneDNN (bfloat16 matrix products on a CPU) caches one compiled primitive per operand shape, in
# two caches of 1,024 entries each (oneDNN's own and PyTorch's ideep layer). Training batches
# have a new shape almost every update, so the caches only grow: a bf16 Transformer run grew by
# ~6 MB an update, to 1.7 GB after 100 updates. 16 entries keep the reuse within one update
# (layers of one shape, forward and backward) and stop the growth: peak 866 MB, flat over 100
# updates (32 entries: 913 MB; 64: 985 MB; 1: 827 MB but 20 % slower); bench_train.py, 16 vs 32:
# 3,131 vs 3,016 tokens/s. Both caches read these variables when first used, so they are set before that.
PRIMITIVE_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_primitive_caches(capacity: int = 16) -> None:
    """Cap oneDNN's shape-keyed primitive caches for training (a value the user set is kept)."""
    import os

    for name in PRIMITIVE_CACHE_VARIABLES:
        os.environ.setdefault(name, str(capacity))
