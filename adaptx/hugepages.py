"""Transparent huge pages for torch's large CPU buffers, asked for before torch loads.

Full fine-tuning frees and reallocates the word-embedding gradient on every step (dense, the
whole vocabulary: 384 MB for the embedded base, 1 GB for XLM-R Large). glibc maps a buffer
that large fresh each time, and the kernel then faults it in 4 KiB page by page: ~94k faults
per step, measured at 0.1-0.6 s per step on a 2-core VM, up to half of a full fine-tuning step
(docs/benchmarks.md, "Quickstart time on AVX2-only CPUs"). torch's CPU allocator asks for 2 MiB
pages (2 MiB-aligned buffers + madvise(MADV_HUGEPAGE)) for buffers of 2 MiB or more when
THP_MEM_ALLOC_ENABLE=1 is set; c10 reads the variable once, at torch's first allocation, so it
must be set before `import torch`. It changes where buffers live, never a value computed in them.

This module imports nothing heavy, so the command line can call it first.
"""

from __future__ import annotations

import os
import sys

ENV = "THP_MEM_ALLOC_ENABLE"


def prefer_huge_pages() -> bool:
    """Set THP_MEM_ALLOC_ENABLE=1 for this process and its children unless the user set it (any
    value, e.g. 0 to opt out) or torch is already loaded (too late to take effect). Linux only
    (the variable means nothing elsewhere). Returns whether torch will use huge pages."""
    if ENV in os.environ:
        return os.environ[ENV].strip() not in ("", "0")
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return False
    os.environ[ENV] = "1"
    return True


def huge_pages_setting() -> str:
    """The variable's value in this process, or "unset" (recorded beside a stage's timings)."""
    return os.environ.get(ENV, "unset")
