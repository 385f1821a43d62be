"""SecretBuffer: a bytearray in memory of its own, for secrets that live long (keys, passwords).

On Linux CPython (x86-64, AArch64) the bytes live in a mapping made by _secretmemory.py
(memfd_secret or locked anonymous memory, guard pages, out of core dumps, not inherited by
fork) and the object is a real bytearray whose storage points there (_bytearray_storage.py):
hmac, hashlib, cryptography, file.readinto and anything taking a bytes-like object use it in
place.  Elsewhere it is an ordinary bytearray, and `protection` says so.
"""
from __future__ import annotations

import ctypes
import hmac
import sys
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NoReturn, Optional, Tuple, Type, TypeVar, cast, final

from ._config import env_choice
from ._errors import SecretscopeError
from ._secretmemory import POOL_MAX, Memory, Pool, Region, Slot

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


_Self = TypeVar("_Self", bound="SecretBuffer")

#: the properties `require=` may name
REQUIRABLE = ("locked", "not_dumped", "wiped_on_fork", "secretmem", "guard_pages")


class BufferProtectionError(SecretscopeError):
    """SecretBuffer(require=...) asked for a property the memory could not have."""


@dataclass(frozen=True)
class BufferProtection:
    """What protects a SecretBuffer's bytes (each False says what is missing; see `reason`).

    locked: the pages cannot be swapped out (mlock, or secretmem).
    not_dumped: the pages are left out of core dumps (MADV_DONTDUMP, or secretmem).
    wiped_on_fork: a forked child does not get the bytes: it reads zeros.
    secretmem: memfd_secret(2) pages, removed from the kernel's direct map, unreadable
        through /proc/<pid>/mem and ptrace.
    guard_pages: a page that faults on write directly after the data (an inaccessible one
        before it); False for pooled buffers, which share pages (canaries instead).
    pooled: the buffer is a slot of a shared pool page.
    wiped_by_fork: this process is a forked child and the buffer's bytes were wiped.
    native: memory of its own; False means an ordinary bytearray (nothing above holds).
    """
    locked: bool
    not_dumped: bool
    wiped_on_fork: bool
    secretmem: bool
    guard_pages: bool
    pooled: bool = False
    wiped_by_fork: bool = False
    native: bool = True
    reason: str = ""

    def labels(self) -> str:
        if not self.native:
            return "plain memory, not protected"
        parts = ["locked" if self.locked else "not locked",
                 "not dumped" if self.not_dumped else "dumpable",
                 "wiped on fork" if self.wiped_on_fork else "inherited by fork"]
        if self.secretmem:
            parts.append("secretmem")
        parts.append("pooled" if self.pooled else ("guard pages" if self.guard_pages else "no guard pages"))
        if self.wiped_by_fork:
            parts.append("wiped by fork")
        return ", ".join(parts)


def _load_base() -> Tuple[type, Optional[str]]:
    """SECRETSCOPE_SECRETBUFFER=plain forces ordinary bytearray memory (for tests); auto (the
    default) uses memory of its own wherever _bytearray_storage supports the interpreter."""
    choice = env_choice("SECRETSCOPE_SECRETBUFFER", ("auto", "plain"), "auto")
    if choice == "plain":
        return bytearray, "plain memory was forced by SECRETSCOPE_SECRETBUFFER=plain"
    try:
        from ._bytearray_storage import make_base_type, unavailable_reason
    except (ImportError, SecretscopeError) as exc:  # PyPy and others: no ctypes.pythonapi
        return bytearray, f"no C-API access on this interpreter ({exc})"
    reason = unavailable_reason()
    if reason:
        return bytearray, reason
    try:
        from ._secretmemory import libc
        libc()
        return make_base_type(), None
    except (OSError, AttributeError, SecretscopeError) as exc:
        reason = f"SecretBuffer's memory could not be set up: {type(exc).__name__}: {exc}"
        warnings.warn(f"secretscope: {reason}; SecretBuffer is PLAIN MEMORY", RuntimeWarning, stacklevel=2)
        return bytearray, reason


_LOADED_BASE, PLAIN_REASON = _load_base()
NATIVE = PLAIN_REASON is None
if TYPE_CHECKING:
    _Base = bytearray          # what type checkers see: a bytearray, whichever base loaded
else:
    _Base = _LOADED_BASE
if TYPE_CHECKING or NATIVE:  # checkers: always bound; at runtime every use is behind `NATIVE`
    from . import _bytearray_storage as _storage_mod

_IS_CPYTHON = sys.implementation.name == "cpython"


class _Storage:
    __slots__ = ("length", "address", "region", "slot", "memory", "before", "pin", "closed", "closing")

    def __init__(self, length: int) -> None:
        self.length = length
        self.address = 0
        self.region: Optional[Region] = None
        self.slot: Optional[Slot] = None
        self.memory: Optional[Memory] = None
        self.before: Any = None
        self.pin: Optional[memoryview] = None
        self.closed = False
        self.closing = False

    def current_memory(self) -> Memory:
        """What the memory is now (a forked child may have had its secretmem pages replaced)."""
        if self.region is not None:
            return self.region.memory
        if self.slot is not None:
            return replace(self.slot.chunk.region.memory, guard_pages=False, pooled=True)
        assert self.memory is not None
        return self.memory

    def wiped_by_fork(self) -> bool:
        region = self.region if self.region is not None else (self.slot.chunk.region if self.slot else None)
        return bool(region is not None and region.wiped_by_fork)

    def allocate(self, pooled: bool) -> None:
        if pooled:
            self.slot, self.memory = Pool.take(self.length)
            self.address = self.slot.address
        else:
            self.region = Region(self.length)
            self.memory = self.region.memory
            self.address = self.region.data + self.region.data_len - self.length

    def release(self) -> bool:
        """Zero and give the memory back; False when a pool canary was found overwritten."""
        if self.region is not None:
            region, self.region = self.region, None
            region.release()
        elif self.slot is not None:
            slot, self.slot = self.slot, None
            return Pool.give_back(slot)
        return True


_RESIZERS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "__iadd__", "__delitem__",
                       "resize", "take_bytes"})


def _fixed_size() -> NoReturn:
    raise BufferError("a SecretBuffer has a fixed size: its storage can never be resized or moved")


def _unordered() -> NoReturn:
    raise TypeError("SecretBuffers are not ordered (only == and != compare, in constant time)")


def _checked_size(size: object) -> int:
    """size, checked at runtime: callers that are not type-checked may pass anything."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"SecretBuffer(size): size must be an int, not {type(size).__name__}")
    if size < 0:
        raise ValueError("SecretBuffer(size): size must be >= 0")
    return size


def _open_storage(buf: bytearray) -> _Storage:
    """buf's storage; ValueError once buf is closed (or has none: made by bytearray.__new__ directly)."""
    storage: Optional[_Storage] = getattr(buf, "_storage", None)
    if storage is None or storage.closed:
        raise ValueError("operation on a closed SecretBuffer")
    return storage


@final
class SecretBuffer(_Base):
    """A bytearray whose bytes live in locked memory of their own (see docs/api.md).

    SecretBuffer(n) holds n zero bytes; SecretBuffer.from_bytes(b) a copy of b.  It is usable
    wherever a bytes-like object or a bytearray is accepted, cannot be resized, compares in
    constant time, never shows its content in repr/str/format, cannot be pickled or copied,
    and is wiped and unmapped by close() (or the end of a with block, or when collected).
    """

    __slots__ = ("_storage", "__weakref__")
    if TYPE_CHECKING:  # the slot above, for checkers only: at runtime get_type_hints(SecretBuffer) resolves
        _storage: _Storage  # names in `secretscope` (its __module__), where _Storage is not; set by __new__

    def __new__(cls: Type[_Self], size: int, *, require: Iterable[str] = (), pool: Optional[bool] = None) -> _Self:
        size = _checked_size(size)
        if isinstance(require, str):
            require = (require,)
        required = tuple(require)
        unknown = [r for r in required if r not in REQUIRABLE]
        if unknown:
            raise ValueError(f"SecretBuffer(require=...): unknown {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(REQUIRABLE)}")
        if pool is None:
            pooled = size <= POOL_MAX and "guard_pages" not in required
        else:
            pooled = bool(pool)
            if pooled and size > POOL_MAX:
                raise ValueError(f"SecretBuffer(pool=True): pooled buffers hold at most {POOL_MAX} bytes")
        self = bytearray.__new__(cls)
        storage = _Storage(size)
        storage.closed = True                # until it holds memory: every operation refuses
        if not NATIVE:
            if required:
                raise BufferProtectionError(f"SecretBuffer(require={required!r}): this is plain memory "
                                            f"({PLAIN_REASON})")
            bytearray.__init__(self, size)
            storage.pin = memoryview(self)   # an export: the bytearray can no longer be resized
            storage.closed = False
            self._storage = storage
            return self
        self._storage = storage
        bytearray.__init__(self)             # 3.15: bytearray's own (empty) ob_bytes_object
        storage.allocate(pooled)
        try:
            memory = storage.memory
            assert memory is not None
            missing = [r for r in required if not getattr(memory, r)]
            if missing:
                raise BufferProtectionError(
                    f"SecretBuffer(require={required!r}): not {', '.join(missing)}"
                    + (f" ({memory.reason})" if memory.reason else ""))
            storage.before = _storage_mod.attach(self, storage.address, size)
        except BaseException:
            storage.release()
            raise
        storage.closed = False
        return self

    def __init__(self, size: int, *, require: Iterable[str] = (), pool: Optional[bool] = None) -> None:
        pass  # everything happened in __new__; bytearray.__init__ must not run again

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("SecretBuffer cannot be subclassed")

    @classmethod
    def from_bytes(cls: Type[_Self], data: Any, *, require: Iterable[str] = (), pool: Optional[bool] = None) -> _Self:
        """A SecretBuffer holding a copy of data (any bytes-like object).  data itself stays
        where it is: wipe() it if it is mutable; an immutable bytes object cannot be erased."""
        if isinstance(data, str):
            raise TypeError("SecretBuffer.from_bytes() takes a bytes-like object, not str (encode it first)")
        with memoryview(data) as view:
            if not view.c_contiguous:
                raise TypeError("SecretBuffer.from_bytes(): the buffer must be contiguous")
            buf = cls(view.nbytes, require=require, pool=pool)
            if view.nbytes:
                try:
                    with view.cast("B") as flat:  # copied straight into the buffer's own memory
                        bytearray.__setitem__(buf, slice(None), flat)
                except BaseException:
                    buf.close()
                    raise
        return buf

    # ---- state ---------------------------------------------------------------------------

    def _check(self) -> None:
        _open_storage(self)

    @property
    def closed(self) -> bool:
        storage = getattr(self, "_storage", None)
        return storage is None or bool(storage.closed)

    @property
    def protection(self) -> BufferProtection:
        self._check()
        storage: _Storage = self._storage
        if not NATIVE:
            return BufferProtection(False, False, False, False, False, native=False, reason=PLAIN_REASON or "")
        memory = storage.current_memory()
        return BufferProtection(memory.locked, memory.not_dumped, memory.wiped_on_fork, memory.secretmem,
                                memory.guard_pages, memory.pooled, storage.wiped_by_fork(), True, memory.reason)

    def close(self) -> None:
        """Zero the bytes and unmap them; afterwards every use raises ValueError.

        Raises BufferError (and changes nothing) while a memoryview or another export of the
        buffer is alive, like mmap.close()."""
        storage: Optional[_Storage] = getattr(self, "_storage", None)
        if storage is None or storage.closed or storage.closing:
            return
        storage.closing = True
        try:
            if NATIVE:
                if _storage_mod.exports(self) > 0:
                    raise BufferError("cannot close a SecretBuffer while a memoryview (or another export) "
                                      "of it exists: release it first")
                _storage_mod.detach(self, storage.before)   # getbuffer now raises ValueError
                storage.closed = True
                intact = storage.release()                   # zeroes the memory, then unmaps it
                if not intact:
                    raise RuntimeError("SecretBuffer.close(): the canaries around this buffer's pool slot were "
                                       "overwritten: something wrote out of bounds next to it (the slot is wiped)")
                return
            self._close_plain(storage)
        finally:
            storage.closing = False

    def _close_plain(self, storage: _Storage) -> None:
        if _IS_CPYTHON and storage.pin is not None:
            try:
                from ._bytearray_storage import OB_EXPORTS
                if ctypes.c_ssize_t.from_address(id(self) + OB_EXPORTS).value > 1:
                    raise BufferError("cannot close a SecretBuffer while a memoryview (or another export) "
                                      "of it exists: release it first")
            except ImportError:
                pass
        bytearray.__setitem__(self, slice(None), bytes(len(self)))   # in place: same length
        if storage.pin is not None:
            storage.pin.release()
            storage.pin = None
        try:
            bytearray.clear(self)
        except BufferError:
            storage.pin = memoryview(self)
            raise
        storage.closed = True

    def __del__(self) -> None:
        storage = getattr(self, "_storage", None)
        if storage is None or storage.closed:
            return
        if NATIVE and _storage_mod.exports(self) > 0:
            # Only in cyclic garbage: a memoryview of it is garbage too, released after the
            # finalizers.  Zero the bytes now but leave them mapped (another finalizer may still
            # read that view); buffer.S's tp_dealloc zeroes them again and the pages are leaked.
            if storage.length:
                ctypes.memset(storage.address, 0, storage.length)
            return
        self.close()

    def __enter__(self: _Self) -> _Self:
        self._check()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- never show, never copy implicitly -------------------------------------------------

    def __repr__(self) -> str:
        storage = getattr(self, "_storage", None)
        if storage is None or storage.closed:
            return "SecretBuffer(closed)"
        return f"SecretBuffer({self._storage.length} bytes, {self.protection.labels()})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if spec:
            raise TypeError("a SecretBuffer does not format its content")
        return repr(self)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be pickled or copied")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be copied (SecretBuffer.from_bytes(buf) makes another one)")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be copied (SecretBuffer.from_bytes(buf) makes another one)")

    def copy(self) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be copied (SecretBuffer.from_bytes(buf) makes another one)")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a SecretBuffer cannot be pickled or copied")

    def __int__(self) -> NoReturn:
        raise TypeError("a SecretBuffer is not parsed as a number (its content would reach the error message)")

    def __float__(self) -> NoReturn:
        raise TypeError("a SecretBuffer is not parsed as a number (its content would reach the error message)")

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """bytearray.decode, except that a decoding error does not carry the content."""
        self._check()
        try:
            return bytearray.decode(self, encoding, errors)
        except UnicodeDecodeError as exc:  # exc.object is a copy of the content: drop it
            failure = f"SecretBuffer content is not valid {exc.encoding} (at byte {exc.start}: {exc.reason})"
        raise ValueError(failure)

    # ---- constant-time equality, no ordering ------------------------------------------------

    def __eq__(self, other: object) -> bool:
        self._check()
        if isinstance(other, str):
            return NotImplemented
        try:
            return hmac.compare_digest(self, cast("ReadableBuffer", other))  # not a buffer: TypeError, below
        except (TypeError, BufferError):
            return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    # four methods, not one shared: a shared one's type is left to inference, which --verifytypes rejects
    def __lt__(self, other: object) -> NoReturn:
        _unordered()

    def __le__(self, other: object) -> NoReturn:
        _unordered()

    def __gt__(self, other: object) -> NoReturn:
        _unordered()

    def __ge__(self, other: object) -> NoReturn:
        _unordered()


def _wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    if name in _RESIZERS:
        def resizer(self: SecretBuffer, *args: Any, **kwargs: Any) -> Any:
            _open_storage(self)
            _fixed_size()
        resizer.__name__ = resizer.__qualname__ = name
        resizer.__doc__ = "Not supported: a SecretBuffer has a fixed size (raises BufferError)."
        return resizer

    def wrapper(self: SecretBuffer, *args: Any, **kwargs: Any) -> Any:
        _open_storage(self)
        try:
            return method(self, *args, **kwargs)
        except BufferError:
            if not NATIVE or _storage_mod.exports(self) == 0:
                _fixed_size()
            raise
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


def _install_checks() -> None:
    """Every bytearray operation of a closed SecretBuffer raises ValueError."""
    skip = {"__new__", "__init__", "__getattribute__", "__setattr__", "__delattr__", "__init_subclass__",
            "__subclasshook__", "__class_getitem__", "__dir__", "__sizeof__", "__buffer__",
            "__release_buffer__", "fromhex", "maketrans"}
    own: Mapping[str, Any] = vars(SecretBuffer)
    for name in dir(bytearray):
        if name in skip or name in own:
            continue
        attr = getattr(bytearray, name)
        if not callable(attr) or isinstance(vars(bytearray).get(name), (staticmethod, classmethod)):
            continue
        if type(attr).__name__ == "classmethod_descriptor":
            continue
        if name.startswith("__") and name not in {
                "__getitem__", "__setitem__", "__delitem__", "__len__", "__contains__", "__iter__", "__add__",
                "__mul__", "__rmul__", "__mod__", "__rmod__", "__iadd__", "__imul__", "__alloc__"}:
            continue
        setattr(SecretBuffer, name, _wrap(name, attr))


_install_checks()


def wipe_secretbuffer(buf: SecretBuffer) -> None:
    """Zero buf's bytes in place (it stays open): wipe(buf)."""
    storage = _open_storage(buf)
    n = storage.length
    if NATIVE:
        if n:
            ctypes.memset(storage.address, 0, n)
    else:
        bytearray.__setitem__(buf, slice(None), bytes(n))   # same length: in place


__all__ = ["SecretBuffer", "BufferProtection", "BufferProtectionError"]
