"""harden(): settings for a process that holds secrets (no core dumps, optionally all memory locked)."""

import ctypes
import os
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
MCL_CURRENT, MCL_FUTURE = 1, 2


@dataclass(frozen=True)
class HardeningReport:
    """What harden() did.  Each flag is True when the setting is in force afterwards.

    core_dumps_disabled: RLIMIT_CORE is 0 (soft and hard): the kernel writes no core file.
    not_dumpable: prctl(PR_SET_DUMPABLE, 0): no core dump even through a core_pattern pipe,
        /proc/<pid>/ files owned by root, and processes of the same user cannot ptrace-attach.
    memory_locked: mlockall(MCL_CURRENT | MCL_FUTURE) succeeded; None when not asked.
    problems: why a setting could not be made, one sentence each.
    """
    core_dumps_disabled: bool
    not_dumpable: bool
    memory_locked: Optional[bool]
    problems: Tuple[str, ...] = ()


def _libc() -> Optional[ctypes.CDLL]:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def harden(*, lock_memory: bool = False) -> HardeningReport:
    """Turn core dumps off (RLIMIT_CORE 0 and PR_SET_DUMPABLE 0) and, with lock_memory=True,
    lock all present and future memory of the process (mlockall); report what took effect.

    Irreversible for an unprivileged process, by design.  Nothing raises: read the report."""
    problems: List[str] = []
    core = False
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        core = resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
    except (ImportError, ValueError, OSError) as exc:
        problems.append(f"RLIMIT_CORE could not be set to 0: {exc}")
    libc = _libc()
    dumpable_off = False
    if sys.platform.startswith("linux") and libc is not None:
        prctl = libc.prctl
        prctl.restype = ctypes.c_int
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            problems.append(f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(err)}")
        dumpable_off = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    else:
        problems.append(f"PR_SET_DUMPABLE exists only on Linux (this is {sys.platform})")
    locked: Optional[bool] = None
    if lock_memory:
        locked = False
        mlockall = getattr(libc, "mlockall", None) if libc is not None else None
        if mlockall is None:
            problems.append("mlockall is not available here")
        else:
            mlockall.restype, mlockall.argtypes = ctypes.c_int, [ctypes.c_int]
            if mlockall(MCL_CURRENT | MCL_FUTURE) == 0:
                locked = True
            else:
                err = ctypes.get_errno()
                problems.append(f"mlockall failed: {os.strerror(err)} (RLIMIT_MEMLOCK is "
                                f"{_memlock_limit()}; raise it or grant CAP_IPC_LOCK)")
    return HardeningReport(core, dumpable_off, locked, tuple(problems))


def _memlock_limit() -> str:
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes"
    except (ImportError, ValueError, OSError):
        return "unknown"
