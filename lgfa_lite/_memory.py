"""Keep freed memory in the process instead of handing it back to the OS.

glibc serves big blocks with fresh mmaps and returns them on free, so every large temporary
tensor pays its page faults again; on small VMs that costs more than the arithmetic (measured
here: allocating + filling 36 MB took 110-195 ms, refilling an existing buffer 3-7 ms).
Raising the mmap/trim thresholds makes the heap reuse those pages. PyTorch's CPU tuning guide
suggests a caching allocator (jemalloc/tcmalloc) for the same reason; this needs no install.
"""

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory() -> bool:
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum
        libc.mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
        libc.mallopt(_M_TOP_PAD, 64 * 1024 * 1024)
        _done = True
    except (OSError, AttributeError):
        pass
    return _done
