"""Optional tcmalloc for training jobs: the script started again with the library preloaded.

Off unless asked for: config `train.allocator: tcmalloc` (default `system`, glibc's malloc).
A CPU training step allocates and frees many small tensors, which tcmalloc serves faster
than glibc (measured with `benchmarks/train_benchmark.py --compare-allocators`: see
benchmarks/README.md), with identical results (metrics, predictions and history:
tests/learn/test_allocator.py). A process's
allocator can only be chosen when it starts, so `restart_with_allocator`, the first call
of workflow/scripts/train.py, replaces the running script by itself with LD_PRELOAD set,
once; where tcmalloc is not installed, nothing happens and glibc's malloc is used.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

# Set in the restarted process: it names the library and stops a second restart.
RESTARTED = "ATTENTIVECHROME_TCMALLOC"
LIBRARY_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc_minimal.so", "libtcmalloc.so.4")
ALLOCATORS = ("system", "tcmalloc")  # the values of config train.allocator
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def find_tcmalloc() -> str | None:
    """Path of tcmalloc: the active conda environment's (package gperftools) first."""
    dirs = [Path(sys.prefix, "lib")]
    if os.environ.get("CONDA_PREFIX"):
        dirs.insert(0, Path(os.environ["CONDA_PREFIX"], "lib"))
    dirs += [Path(d) for d in LIBRARY_DIRS]
    for folder in dirs:
        for name in LIBRARY_NAMES:
            if (folder / name).is_file():
                return str(folder / name)
    return ctypes.util.find_library("tcmalloc_minimal")


def loaded_tcmalloc() -> str | None:
    """The tcmalloc file mapped into this process, if any (read from /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        if "libtcmalloc" in line:
            return line.split()[-1]
    return None


def restart_with_tcmalloc() -> None:
    """Run this Python script again with tcmalloc preloaded; returns where that cannot be.

    Returns at once in the restarted process, when tcmalloc is already loaded, when it is
    not installed, or when this process is not a script run by path (`python -c`, a REPL).
    """
    if os.environ.get(RESTARTED) or loaded_tcmalloc():
        return
    library = find_tcmalloc()
    script = sys.argv[0] if sys.argv else ""
    if library is None or not sys.executable or not Path(script).is_file():
        return
    preload = " ".join(filter(None, [library, os.environ.get("LD_PRELOAD")]))
    env = dict(os.environ, LD_PRELOAD=preload, **{RESTARTED: library})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def restart_with_allocator(allocator: str) -> None:
    """Apply config `train.allocator`: "system" returns at once; "tcmalloc" runs this
    script again with tcmalloc preloaded (`restart_with_tcmalloc`), before anything else."""
    if allocator not in ALLOCATORS:
        raise ValueError(f"allocator must be one of {ALLOCATORS}, got {allocator!r}")
    if allocator == "tcmalloc":
        restart_with_tcmalloc()
