"""The record `protection()` returns: what the active backend covers, and why not the rest."""
# No `from __future__ import annotations`: the class is secretscope.Protection (its __module__),
# and typing.get_type_hints resolves string annotations in that module, which lacks these names.
from dataclasses import dataclass
from typing import Literal, Optional, Tuple


@dataclass(frozen=True)
class Protection:
    """What a scope erases on this interpreter, right now.

    backend: "native" (the assembly backend is loaded) or "fallback" (nothing is erased).
    platform: e.g. "linux-x86_64", "linux-aarch64", "darwin-arm64".
    registers, stack, heap, signal_stacks: whether that guarantee of docs/guarantees.md holds.
    reason: why a guarantee does not hold (None when all do).
    features: register state found at load (e.g. "xsave", "avx", "avx512", "amx").
    inherit: threads, thread-pool work and asyncio tasks started inside a scope inherit it
        (False under SECRETSCOPE_INHERIT=0 / inherit(False), Go 1.26's semantics, and always
        under the fallback, which has no scopes).
    native_heap: whether blocks native code gets from malloc and its family inside a scope are
        zeroed when freed (the C allocator's entries of every loaded object are wrapped).
    limits: what guarantees that hold still leave out on this interpreter and in this process
        (each also in docs/guarantees.md, "Not covered"); empty when nothing applies.
    """

    backend: Literal["native", "fallback"]
    platform: str
    registers: bool
    stack: bool
    heap: bool
    signal_stacks: bool
    reason: Optional[str]
    features: Tuple[str, ...] = ()
    inherit: bool = False
    native_heap: bool = False
    limits: Tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every guarantee holds."""
        return self.registers and self.stack and self.heap and self.signal_stacks and self.native_heap
