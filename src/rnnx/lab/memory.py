"""Peak memory of a training run.

On CUDA it is ``torch.cuda.max_memory_allocated``: the most bytes held by tensors at once
(the caching allocator's reserve not included). On CPU there is no allocator counter for
tensors, so it is the process's peak resident set size during the run minus its resident
size when the run began: on Linux the kernel's high-water mark ``VmHWM`` is reset first through
``/proc/self/clear_refs``; elsewhere ``getrusage`` gives the peak of the whole process.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """``start()`` before the measured work, ``peak()`` after: bytes, and ``what`` says how."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.start_rss = 0
        self.reset = False
        self.what = ""

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.what = "torch.cuda.max_memory_allocated (bytes held by tensors)"
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
            self.reset = True
        except OSError:
            self.reset = False
        rss = _status_kb("VmRSS")
        self.start_rss = 0 if rss is None else rss * 1024
        if self.reset:
            self.what = "peak resident set size during training minus the size when it began (Linux VmHWM)"
        else:
            self.what = "peak resident set size of the process (getrusage)"

    def peak(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        hwm = _status_kb("VmHWM") if self.reset else None
        if hwm is not None:
            return max(0, hwm * 1024 - self.start_rss)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
