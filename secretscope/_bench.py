"""Benchmarks: `python -m secretscope bench` (also benchmarks/run.py).

Every figure is the median over repeats of timeit's per-call time, measured in
one run with the standard library's timer; ratios compare figures of the same
run.  Nothing here asserts a speed: timing belongs in benchmarks, not tests.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import platform
import statistics
import sys
import timeit
from typing import Any, Callable, Dict, List, Optional, TextIO, Tuple

from ._active import backend, do
from ._scope import secret

Row = Tuple[str, float, Optional[float]]  # name, plain ns, scoped ns


def per_call_ns(stmt: str, env: Dict[str, Any], repeat: int) -> float:
    timer = timeit.Timer(stmt, globals=env)
    number, _ = timer.autorange()
    number = max(1, number // 4)  # about 50 ms per repeat
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def _noop() -> None:
    return None


def workloads() -> List[Tuple[str, Callable[[], Any]]]:
    key, msg, salt = os.urandom(32), os.urandom(64), os.urandom(16)
    items: List[Tuple[str, Callable[[], Any]]] = [
        ("hmac-sha256, 64-byte message", lambda: hmac.new(key, msg, "sha256").digest()),
        ("pbkdf2_hmac sha256, 10 iterations", lambda: hashlib.pbkdf2_hmac("sha256", key, salt, 10)),
        ("scrypt n=1024 r=8 p=1", lambda: hashlib.scrypt(key, salt=salt, n=1024, r=8, p=1)),
    ]
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        peer = X25519PrivateKey.generate().public_key()
        aes, nonce = AESGCM(key), os.urandom(12)
        items += [("X25519 generate + exchange (cryptography)", lambda: X25519PrivateKey.generate().exchange(peer)),
                  ("AES-256-GCM encrypt 64 bytes (cryptography)", lambda: aes.encrypt(nonce, msg, None))]
    except ImportError:
        pass
    return items


def _churn() -> None:
    """Allocation-heavy: build and drop many small objects (tuples, strs, lists, dicts)."""
    for i in range(200):
        d = {"k": [i, str(i), (i, i + 1)], "v": b"x" * 40}
        del d


def heap_rows(repeat: int) -> List[Row]:
    """The wrapper's cost outside scopes: measured before it is installed (the bare interpreter's
    allocator) and after, in the same process; then the same loop inside a scope."""
    heap = getattr(backend, "heap", None)
    env: Dict[str, Any] = {"churn": _churn, "do": do}
    rows: List[Row] = []
    if heap is None or not heap.available:
        return rows
    if heap.installed:
        rows.append(("(wrapper already installed: bare figure unavailable)", per_call_ns("churn()", env, repeat), None))
    else:
        bare = per_call_ns("churn()", env, repeat)
        do(_noop)  # first scope: installs the wrapper
        rows.append(("churn outside scopes: bare allocator vs wrapper installed", bare,
                     per_call_ns("churn()", env, repeat)))
    plain = per_call_ns("churn()", env, repeat)
    rows.append(("churn inside a scope (every block recorded and zeroed)", plain, per_call_ns("do(churn)", env, repeat)))
    return rows


def measure(quick: bool = False) -> Dict[str, List[Row]]:
    repeat = 5 if quick else 15
    tables: Dict[str, List[Row]] = {}
    env: Dict[str, Any] = {"do": do, "secret": secret}
    heap = heap_rows(repeat)  # first: it needs the process before any scope
    if heap:
        tables["heap wrapper, allocation-heavy loop (200 dicts of lists, strs, tuples, bytes)"] = heap

    if backend.name == "native":
        from ._probe import Probe
        probe = Probe(backend)  # type: ignore[arg-type]
        seed: List[Row] = []
        for size, fn in probe.use_stack.items():
            label = f"{size // 1024} KiB" if size < 1 << 20 else "1 MiB"
            env.update(f=fn, g=secret(fn))
            seed.append((f"native helper using {label} of stack: do(f)",
                         per_call_ns("f()", env, repeat), per_call_ns("do(f)", env, repeat)))
        tables["seed shape (Go: 1 KiB 17.1 -> 48.0 ns, 2.8x; 64 KiB 1019 -> 3055 ns, 3.0x)"] = seed

    env.update(noop=_noop, snoop=secret(_noop))
    tables["empty call"] = [
        ("decorated empty function vs plain", per_call_ns("noop()", env, repeat), per_call_ns("snoop()", env, repeat)),
        ("do(empty function) vs plain", per_call_ns("noop()", env, repeat), per_call_ns("do(noop)", env, repeat)),
    ]

    forms: List[Row] = []
    work = workloads()
    env["hm"] = work[0][1]
    plain_hm = per_call_ns("hm()", env, repeat)
    env["shm"] = secret(work[0][1])
    forms.append(("@secret", plain_hm, per_call_ns("shm()", env, repeat)))
    forms.append(("do(f)", plain_hm, per_call_ns("do(hm)", env, repeat)))
    forms.append(("with secret():", plain_hm, per_call_ns("with secret():\n    hm()", env, repeat)))
    tables[f"forms, around: {work[0][0]}"] = forms

    real: List[Row] = []
    for name, fn in work:
        env.update(w=fn, sw=secret(fn))
        real.append((name, per_call_ns("w()", env, repeat), per_call_ns("sw()", env, repeat)))
    tables["real workloads, decorated"] = real
    return tables


def _fmt(ns: float) -> str:
    return f"{ns:,.0f} ns" if ns >= 100 else f"{ns:.1f} ns"


def run(out: TextIO, quick: bool = False) -> int:
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
          f"CPython {sys.version.split()[0]}; backend {backend.name}", file=out)
    print("median per call over repeats (timeit); ratio = scoped / plain, same run\n", file=out)
    for title, rows in measure(quick).items():
        print(title, file=out)
        width = max(len(r[0]) for r in rows)
        for name, plain, scoped in rows:
            extra = "" if scoped is None else f"{_fmt(scoped):>12}  {scoped / plain:5.2f}x  (+{_fmt(scoped - plain)})"
            print(f"  {name:<{width}}  {_fmt(plain):>12}{extra}", file=out)
        print(file=out)
    return 0
