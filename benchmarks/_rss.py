"""Peak memory of a process, for the benchmarks' memory figures (Linux
``/proc``, with a ``getrusage`` fallback): the peak RSS (``VmHWM``) with a
reset, and a sampler of the anonymous RSS (allocated memory, without the
pages of memory-mapped files the kernel may drop)."""

from __future__ import annotations

import resource
import threading


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """This process's peak RSS.

    ``VmHWM`` from /proc/self/status where available: unlike ``ru_maxrss`` it
    belongs to this address space only (``ru_maxrss`` of an exec'd child starts at
    the parent's peak, which would hide everything below it) and it is reset by
    :func:`reset_peak_rss`. Falls back to ``resource.getrusage(...).ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def rss_anon_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """Samples the anonymous RSS (memory the process allocated, without the
    pages of memory-mapped files, which the kernel can drop) every 2 ms on a
    thread, from now until :meth:`stop`; the peak growth over the start."""

    def __init__(self) -> None:
        self._base = rss_anon_bytes()
        self._peak = self._base
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.002):
            self._peak = max(self._peak, rss_anon_bytes())

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        self._peak = max(self._peak, rss_anon_bytes())
        return self._peak - self._base
