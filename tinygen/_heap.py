"""Keep freed memory in the process while tinygen's loops run (Linux with glibc; elsewhere nothing).

Why. A training step makes and frees a few hundred arrays, many of 100 KB to 1 MB: a batch of
256 rows by 64 units is 128 KB, Adam's vectors for 35,000 parameters 280 KB each. glibc's malloc
serves such a block by asking the kernel for fresh pages (mmap) until it has learnt better, and it
hands the top of its heap back to the kernel as soon as a little of it is free. Either way the next
step's arrays fault their pages in again, 4 KB at a time, each one zeroed by the kernel: RealNVP-8
(batch 256, one thread) took about 600 page faults a step, a fifth of its time
(``benchmarks/bench_heap.py`` measures every family with and without this module).

What. Two of malloc's settings (``mallopt``), once per process, when the first loop starts:

    M_MMAP_THRESHOLD = 32 MB   a block below this comes from the heap, which reuses freed memory
    M_TRIM_THRESHOLD = 64 MB   the heap gives memory back only when more than this is free at its top

so a process keeps up to 64 MB of freed memory for the next step instead of returning it. They are
settings of the whole process, and glibc has no way back to the adaptive defaults it started with,
so they stay until the process ends. To leave malloc alone, before the first loop:

    tinygen.fast.set_heap_retention(False)
"""
import ctypes
import sys
import threading

__all__ = ["is_retaining", "retain", "set_heap_retention"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (glibc's malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for the threshold it adapts, on 64-bit systems
TRIM_THRESHOLD = 64 << 20

_LOCK = threading.Lock()
_STATE = {"wanted": True, "tried": False, "done": False}


def set_heap_retention(on):
    """Keep freed memory in the process from the next loop on (True, the default), or leave malloc alone."""
    if not isinstance(on, bool):
        raise TypeError(f"on: expected True or False, got {type(on).__name__}")
    _STATE["wanted"] = on


def is_retaining():
    """True once malloc has been told to keep freed memory in this process."""
    return _STATE["done"]


def retain():
    """Tell glibc's malloc to keep freed memory (see the module docstring): once per process, on Linux."""
    if _STATE["tried"] or not _STATE["wanted"] or not sys.platform.startswith("linux"):
        return
    with _LOCK:
        if _STATE["tried"]:
            return
        _STATE["tried"] = True  # once, whatever the answer
        try:
            mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
        except AttributeError:  # a C library without mallopt (musl): nothing to set
            return
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        # mallopt answers 1 when it took the setting
        _STATE["done"] = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                          and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
