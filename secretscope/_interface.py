"""The interface between the Python side and the assembly: the one source of every value both use.

``asm/build.py`` generates ``asm/<arch>/interface.inc`` from this module (``render_include``);
each ``common.inc`` includes it, and ``python3 asm/build.py --check`` fails when a generated
include differs from what this table gives.  The Python side (``_native.py``, ``_threads.py``)
imports the values from here, and so do ``_freelists.py``, ``_call_results.py`` and
``_cpython.py`` for the records both sides lay out (RECORDS: a Scope's fields, ss_call_hooks,
the free-list tables, ss_parked, ss_heap_domains).  Change a value here, run ``python3 asm/build.py``, commit the
includes and the objects together, and bump ``ABI_VERSION`` when the contract changes.

This module imports nothing from the package: build.py loads it by path (importing the package
would load the objects it is about to rebuild).
"""
from __future__ import annotations

import textwrap
from typing import Dict, Final, NamedTuple, Optional, Tuple

ARCHES: Final = ("x86_64", "aarch64")

#: ss_abi_version (api.S): bumped whenever the interface between the Python side and the object
#: changes; _native.py refuses an object with another value.
ABI_VERSION: Final = 4


class Slot(NamedTuple):
    """One 8-byte entry of a table the Python side fills and the assembly reads."""

    name: str  # Python name; the assembly's is PREFIX_ + name.upper()
    doc: str


class Bit(NamedTuple):
    """One flag bit (a power of two) with its assembly name."""

    name: str  # without the group prefix (SLOTF_, CAP_, FEAT_)
    value: int
    doc: str
    feature: Optional[str] = None  # FEAT_ only: what NativeBackend.features() reports, or None
    arches: Tuple[str, ...] = ARCHES  # where the bit exists


class Record(NamedTuple):
    """A record of 8-byte fields shared by both sides: PREFIX_<FIELD> = 8 * index, PREFIX_SIZE,
    and PREFIX_MAX (records in the array) when the array's length is fixed."""

    prefix: str
    fields: Tuple[Slot, ...]
    size: int  # bytes of one record (at least 8 per field; more when padded)
    maximum: int  # PREFIX_MAX (records in the array), or 0: no fixed array
    doc: str
    shift: bool = False  # also PREFIX_SHIFT = log2(size) (size a power of two)


    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @property
    def words(self) -> int:
        """8-byte words of one record (padding included)."""
        return self.size // 8


class Kind(NamedTuple):
    """An allocator function native.S wraps: its column K_<NAME> of a family row."""

    name: str
    wrapper: str  # native.S's macro that makes its wrappers: ALLOC, REALLOC or FREE (<wrapper>_WRAPPER)


class Message(NamedTuple):
    """An error message the assembly raises (the .asciz text of a macro MSG_<NAME>_TEXT)."""

    name: str
    text: str


def _value(bits: Tuple[Bit, ...], name: str) -> int:
    return next(bit.value for bit in bits if bit.name == name)


# ---- ss_api (api.S), filled by NativeBackend._fill_api; API_<NAME> = 8 * index ----------------
API_SLOTS: Final[Tuple[Slot, ...]] = (
    Slot("vectorcall", "PyObject_Vectorcall, or ss_vectorcall_compat (3.10)"),
    Slot("call_noargs", "PyObject_CallNoArgs"),
    Slot("bool_from_long", "PyBool_FromLong"),
    Slot("err_set_string", "PyErr_SetString"),
    Slot("exc_runtime", "PyExc_RuntimeError (the object)"),
    Slot("exc_type", "PyExc_TypeError (the object)"),
    Slot("register_cb", "Python callable: registers the calling thread"),
    Slot("none", "Py_None"),
    Slot("incref", "Py_IncRef"),
    Slot("vectorcall_dict", "PyObject_VectorcallDict (3.10 compat path)"),
    Slot("stack_as_dict", "_PyStack_AsDict (3.10 compat path)"),
    Slot("decref", "Py_DecRef"),
    Slot("method_new", "PyMethod_New"),
    Slot("gc_untrack", "PyObject_GC_UnTrack"),
    Slot("clear_weakrefs", "PyObject_ClearWeakRefs"),
    Slot("gc_del", "PyObject_GC_Del"),
    Slot("eval_get_frame", "PyEval_GetFrame"),
    Slot("frame_get_generator", "PyFrame_GetGenerator (3.11+), or 0"),
    Slot("suspend_message", "char *: why a block cannot open in a generator"),
    Slot("generic_alloc", "PyType_GenericAlloc (block.S: a block's exit object)"),
    Slot("frame_get_back", "PyFrame_GetBack when a Python __enter__ calls ss_scope_enter (3.10), else 0 (block.S)"),
    Slot("with_message", "char *: why a block must be entered by `with`"),
    Slot("frame_get_lasti", "PyFrame_GetLasti (3.11+), or 0 (block.S)"),
    Slot("frame_get_code", "PyFrame_GetCode"),
    Slot("code_get_code", "PyCode_GetCode (3.11+), or 0"),
    Slot("with_opcodes", "how a `with` statement's __enter__ call looks in the calling frame's code "
                         "(block.S: called_by_with): byte 0 the opcode at f_lasti, byte 1 the opcode of the "
                         "instruction before it (0: not checked), byte 2 its oparg; bits 32-63 "
                         "PyBytesObject's ob_sval offset"),
)
API_NAMES: Final = tuple(slot.name for slot in API_SLOTS)
API_SIZE: Final = 8 * len(API_SLOTS)

# ---- ss_object_layout (decorated.S), filled from _cpython.object_layout(); LAYOUT_<NAME> -------
OBJECT_LAYOUT: Final[Tuple[Slot, ...]] = (
    Slot("f", "the wrapped callable (strong reference)"),
    Slot("dict", "__dict__ (strong reference or NULL)"),
    Slot("weaklist", "weak reference list (NULL when none)"),
    Slot("type", "ob_type in the object header"),
    Slot("scope", "a Scope's fields (SCOPE_*, block.S)"),
    Slot("vectorcall", "the vectorcall pointer"),
)
LAYOUT_SIZE: Final = 8 * len(OBJECT_LAYOUT)


def _record(prefix: str, size: int, maximum: int, doc: str, table: str, shift: bool = False) -> Record:
    """A Record from a text table: one field a line, its name, blanks, its description."""
    rows = [line.strip().split(None, 1) for line in table.splitlines() if line.strip()]
    return Record(prefix, tuple(Slot(row[0], row[1] if len(row) > 1 else "") for row in rows), size, maximum, doc,
                  shift)


# ---- records of 8-byte fields (layouts both sides know) ------------------------------------------
#: a Scope's own fields (block.S; common.inc: SCOPE_*), at LAYOUT_SCOPE in the object
SCOPE: Final = _record("SCOPE", 48, 0, "a Scope's fields (block.S), at LAYOUT_SCOPE of the object", """
    state   0 idle, 1 open
    thread  thread pointer of the thread that opened it
    depth   the thread's depth just after it opened
    frame   the Python frame that opened it (identity only)
    armed   the exit object that alone may close it (its `with`'s), or ARMED_ORPHAN; borrowed: its dealloc clears it
    looked  the newest live exit object made for it (borrowed)
""")
#: ss_call_hooks (decorated.S), filled by _call_results.py; all zero = no hooks
HOOKS: Final = _record("HOOK", 64, 0, "ss_call_hooks (decorated.S), filled by _call_results.py; borrowed "
                       "references Python keeps alive", """
    gen_type       &PyGen_Type
    coro_type      &PyCoro_Type
    asyncgen_type  &PyAsyncGen_Type
    drive          drive(obj) -> obj driven in scopes
    clear          clear(value, tb): clears the scope's frames
    err_fetch      PyErr_Fetch
    err_restore    PyErr_Restore
    clear_block    clear_block(exc, tb): frames a block called
""")
#: ss_fl_entries (freelists.S), filled by _freelists.py: one record per disabled free list
FREE_LISTS: Final = _record("FL", 64, 64, "ss_fl_entries (freelists.S): free lists disabled inside scopes", """
    head         address of the list's head pointer
    count        address of the list's count
    width        4 (int numfree, 3.10-3.13) or 8 (Py_ssize_t size)
    disabled     count value that refuses every push
    link         offset of the next pointer inside a parked object
    free         frees one parked object (PyObject_Free, ...), or 0
    saved_head   the list as it was at the first entry
    saved_count
""")
#: ss_fl_zero (freelists.S): array free lists that cannot be disabled (3.10's dict keys)
FREE_ARRAYS: Final = _record("FLZ", 48, 4, "ss_fl_zero (freelists.S): array free lists zeroed at every "
                             "outermost exit", """
    array       address of the array of parked objects
    count       address of its count (int)
    dirty       offset of a word that is non-zero while the payload is (dk_nentries); set to 0 once zeroed
    zero_off    payload: offset and size (dk_indices + entries), a multiple of 16
    zero_bytes
    limit       the array's length (a count above it is not trusted)
""")
#: ss_fl_chains (freelists.S): linked free lists that cannot be disabled (dtoa's Bigints)
FREE_CHAINS: Final = _record("FLC", 64, 4, "ss_fl_chains (freelists.S): linked free lists zeroed at every "
                             "outermost exit", """
    heads      address of an array of list heads (next at +0 of a node)
    nheads
    dirty      offset of an 8-byte word non-zero while the payload is (Bigint sign, wds); zeroed with it
    words      offset of the int32 count of 4-byte data words (maxwds)
    data       offset of the data (x[])
    max_words  a larger count is not trusted: the node is skipped
    limit      nodes walked per list at most
""")
#: ss_parked (greenlets.S): one entry per thread with suspended greenlets inside scopes
PARKED: Final = _record("PARK", 32, 0, "ss_parked (greenlets.S), one entry per thread", """
    key    thread pointer the entry belongs to
    count  scopes of this thread's suspended greenlets
    slot   the thread's slot (the hook reads its depth)
""", shift=True)
#: ss_heap_domains[i] (heap.S): a PyMemAllocatorEx, as CPython lays it out
DOMAINS: Final = _record("DOM", 40, 0, "ss_heap_domains[i] (heap.S): a PyMemAllocatorEx", """
    ctx
    malloc
    calloc
    realloc
    free
""")


# ---- native.S: the C library's allocators, wrapped through other modules' GOT slots ------------
#: the columns of a family row of ss_native_next (K_<NAME> = index, KINDS = how many), in the
#: order _native_heap.py fills them
NATIVE_KINDS: Final[Tuple[Kind, ...]] = (
    Kind("malloc", "ALLOC"), Kind("calloc", "ALLOC"), Kind("realloc", "REALLOC"), Kind("reallocarray", "REALLOC"),
    Kind("posix_memalign", "ALLOC"), Kind("aligned_alloc", "ALLOC"), Kind("memalign", "ALLOC"),
    Kind("valloc", "ALLOC"), Kind("pvalloc", "ALLOC"), Kind("free", "FREE"),
)
#: rows of ss_native_next: distinct allocator chains covered, each with its own copy of every wrapper
NATIVE_FAMILIES: Final = 4
#: ss_native_api (native.S), filled by _native_heap.py
NATIVE_API: Final = _record("NAPI", 24, 0, "ss_native_api (native.S), filled by _native_heap.py", """
    usable  malloc_usable_size
    errno   __errno_location
    page    page size (pvalloc rounds to it)
""")
#: ss_native_collect's output (native.S): a header, then entries of COLLECT_ENTRY bytes whose
#: name (NUL-terminated) is cut at COLLECT_NAME - 1
COLLECT_ENTRY: Final = 280
COLLECT_NAME: Final = 256
COLLECT_HEADER: Final = 32

RECORDS: Final = (SCOPE, HOOKS, FREE_LISTS, FREE_ARRAYS, FREE_CHAINS, PARKED, DOMAINS, NATIVE_API)


# ---- a per-thread slot's SLOT_FLAGS (threads.S); ss_register_thread's flags argument ----------
SLOT_FLAGS: Final[Tuple[Bit, ...]] = (
    Bit("REGISTERED", 1, "bounds are known"),
    Bit("GROWSDOWN", 2, "main thread: [stack] mapping grows down on demand"),
    Bit("NOFAST", 4, "never skip the scan (MADV_NOHUGEPAGE failed)"),
    Bit("TRIMMED", 8, "the last scope gave idle pages back (stack.S)", arches=("x86_64",)),
    Bit("DEEP_TRIMMED", 16, "the last scan gave deep pages back (stack.S)"),
    Bit("KEEP_DEEP", 32, "scrub_stack scratch: this scan keeps deep pages"),
)
SLOTF_GROWSDOWN: Final = _value(SLOT_FLAGS, "GROWSDOWN")

# ---- ss_capabilities bits (api.S): which guarantees the object implements ---------------------
CAPABILITIES: Final[Tuple[Bit, ...]] = (
    Bit("HEAP", 1, "heap.S: blocks allocated in a scope zeroed when freed"),
    Bit("SIGNAL_STACKS", 2, "signals.S: frames on the alternate signal stack"),
)
CAP_HEAP: Final = _value(CAPABILITIES, "HEAP")
CAP_SIGNAL_STACKS: Final = _value(CAPABILITIES, "SIGNAL_STACKS")

# ---- feature bits ss_init returns and stores in ss_features (api.S), per architecture ---------
FEATURES: Final[Dict[str, Tuple[Bit, ...]]] = {
    "x86_64": (
        Bit("XSAVE", 1, "OS enabled XSAVE (CPUID.1:ECX.OSXSAVE)", "xsave"),
        Bit("AVX", 2, "XCR0 has SSE|AVX", "avx"),
        Bit("AVX512", 4, "XCR0 has opmask|ZMM_Hi256|Hi16_ZMM", "avx512"),
        Bit("AMX", 8, "XCR0 has XTILECFG|XTILEDATA and CPUID says AMX-TILE", "amx"),
        Bit("XINUSE", 16, "XGETBV(1) is available"),
        Bit("ZEROCHECK", 32, "AVX, and signal frames fit in SIGFRAME_ZONE (stack.S)"),
    ),
    "aarch64": (
        Bit("FP", 1, "FP/AdvSIMD: v0-v31, FPSR, FPCR (HWCAP_FP|HWCAP_ASIMD)", "fp-simd"),
        Bit("SVE", 2, "SVE: z0-z31, p0-p15, FFR (HWCAP_SVE)", "sve"),
        Bit("SME", 4, "SME: streaming mode, ZA, ZT0 (HWCAP2_SME)", "sme"),
    ),
}
#: architectures whose assembly also tests feature bits by number (tbz/tbnz): FEAT_<NAME>_BIT
FEATURE_BIT_NUMBERS: Final = ("aarch64",)

# ---- messages the assembly raises (trampoline.S, block.S) ----------------------------------------------
MESSAGES: Final[Tuple[Message, ...]] = (
    Message("UNREGISTERED", "secretscope: the stack of this thread could not be registered"),
    Message("BAD_SP", "secretscope: the stack pointer is outside this thread's registered stack "
                      "(code running on a switched stack cannot be protected)"),
    Message("SCRUB_FAILED", "secretscope: erasing the stack failed (mincore); the scope's stack may not be erased"),
    Message("DO_NOARGS", "do() missing required argument: 'f'"),
    # block.S: with-block pairing (docs/api.md, "with secret():")
    Message("NOT_SCOPE", "secretscope: the argument is not a secret() scope"),
    Message("ALREADY_OPEN", "secretscope: this secret() block is already open; use a new secret() for each block"),
    Message("NOT_OPEN", "secretscope: __exit__ of a secret() block that is not open (an exit without its enter, "
                        "or a second exit); nothing was changed"),
    Message("OTHER_THREAD", "secretscope: this secret() block was opened on another thread and can only be closed "
                            "there; nothing was changed"),
    Message("NOT_ARMED", "secretscope: a secret() block is closed only by the `with` statement that opened it; "
                         "nothing was changed"),
    Message("NOT_INNERMOST", "secretscope: a scope opened inside this secret() block is still open (scopes close in "
                             "the reverse order of opening); nothing was changed"),
    Message("OTHER_FRAME", "secretscope: a secret() block must be closed by the frame that opened it; nothing was "
                           "changed"),
)


def feature_names(arch: str) -> Tuple[Tuple[int, str], ...]:
    """(bit, name) of each feature NativeBackend.features() reports on arch."""
    return tuple((bit.value, bit.feature) for bit in FEATURES[arch] if bit.feature is not None)


def message(name: str) -> str:
    """The text of the message MSG_<name>_TEXT."""
    return next(m.text for m in MESSAGES if m.name == name)


def _asm_string(text: str) -> str:
    if not text.isascii() or any(ord(c) < 0x20 for c in text):
        raise ValueError(f"assembly messages are printable ASCII: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(doc: str) -> str:
    if "*/" in doc:
        raise ValueError(f"a comment cannot contain */: {doc!r}")
    return f" /* {doc} */" if doc else ""


def _equ(name: str, value: int, doc: str = "") -> str:
    line = f".equ {name}, {value}{_comment(doc)}"
    if len(line) <= 100:
        return line
    # a long description goes above its value, wrapped
    wrapped = textwrap.wrap(doc, 92)
    wrapped[-1] += " */"
    return "\n".join([f"/* {wrapped[0]}", *(f" * {rest}" for rest in wrapped[1:]), f".equ {name}, {value}"])


def render_include(arch: str) -> str:
    """asm/<arch>/interface.inc: the assembly's view of this table (stable output)."""
    if arch not in ARCHES:
        raise ValueError(f"unknown architecture {arch!r}")
    lines = [
        "/*",
        f" * interface.inc — GENERATED by asm/build.py from secretscope/_interface.py ({arch}).",
        " * Do not edit: change the table and run `python3 asm/build.py`; `--check` fails when",
        " * this file is stale.  Included by common.inc.",
        " */",
        "",
        "/* ss_abi_version (api.S): the Python side refuses an object with another value */",
        _equ("ABI_VERSION", ABI_VERSION),
        "",
        "/* ---- API table (api.S: ss_api), filled by secretscope/_native.py ---- */",
    ]
    lines += [_equ("API_" + slot.name.upper(), 8 * index, slot.doc) for index, slot in enumerate(API_SLOTS)]
    lines += [_equ("API_SIZE", API_SIZE), "",
              "/* ---- a decorated function's object (decorated.S): byte offsets, from ss_object_layout,",
              " * filled by _cpython.py (the header's size depends on the build) ---- */"]
    lines += [_equ("LAYOUT_" + slot.name.upper(), 8 * index, slot.doc) for index, slot in enumerate(OBJECT_LAYOUT)]
    lines += [_equ("LAYOUT_SIZE", LAYOUT_SIZE), "", "/* ---- SLOT_FLAGS bits of a per-thread slot (threads.S) ---- */"]
    lines += [_equ("SLOTF_" + bit.name, bit.value, bit.doc) for bit in SLOT_FLAGS if arch in bit.arches]
    lines += ["", "/* ---- ss_capabilities bits (api.S) ---- */"]
    lines += [_equ("CAP_" + bit.name, bit.value, bit.doc) for bit in CAPABILITIES if arch in bit.arches]
    lines += ["", "/* ---- feature bits reported by ss_init (api.S) ---- */"]
    lines += [_equ("FEAT_" + bit.name, bit.value, bit.doc) for bit in FEATURES[arch]]
    if arch in FEATURE_BIT_NUMBERS:
        lines += [_equ(f"FEAT_{bit.name}_BIT", bit.value.bit_length() - 1) for bit in FEATURES[arch]]
    for record in RECORDS:
        lines += ["", f"/* ---- {record.doc} ---- */"]
        lines += [_equ(f"{record.prefix}_{field.name.upper()}", 8 * index, field.doc)
                  for index, field in enumerate(record.fields)]
        lines += [_equ(f"{record.prefix}_SIZE", record.size)]
        if record.shift:
            lines += [_equ(f"{record.prefix}_SHIFT", record.size.bit_length() - 1)]
        if record.maximum:
            lines += [_equ(f"{record.prefix}_MAX", record.maximum)]
    lines += ["", "/* ---- native.S: allocator columns (K_*), families, ss_native_collect's entries ---- */"]
    lines += [_equ("K_" + kind.name.upper(), index) for index, kind in enumerate(NATIVE_KINDS)]
    lines += [_equ("KINDS", len(NATIVE_KINDS)), _equ("FAMILIES", NATIVE_FAMILIES),
              _equ("COLLECT_ENTRY", COLLECT_ENTRY), _equ("COLLECT_NAME", COLLECT_NAME),
              "/* NATIVE_WRAPPERS fam: every kind's wrapper of family \\fam, in K_* order (native.S defines",
              " * ALLOC_WRAPPER, REALLOC_WRAPPER, FREE_WRAPPER) */", ".macro NATIVE_WRAPPERS fam"]
    for kind in NATIVE_KINDS:
        args = "\\fam" if kind.wrapper == "FREE" else f"{kind.name}, K_{kind.name.upper()}, \\fam"
        lines.append(f"    {kind.wrapper}_WRAPPER {args}")
    lines += [".endm", "", "/* ---- messages the assembly raises: MSG_<NAME>_TEXT emits the string ---- */"]
    for msg in MESSAGES:
        lines += [f".macro MSG_{msg.name}_TEXT", f"    .asciz {_asm_string(msg.text)}", ".endm"]
    return "\n".join(lines) + "\n"


def _check_table() -> None:
    for group in (SLOT_FLAGS, CAPABILITIES, *FEATURES.values()):
        for bit in group:
            assert bit.value > 0 and bit.value & (bit.value - 1) == 0, bit
    assert len(set(API_NAMES)) == len(API_NAMES)
    for record in RECORDS:
        assert 8 * len(record.fields) <= record.size and record.size % 8 == 0 and len(set(record.names)) == len(record.names), record
        assert not record.shift or record.size & (record.size - 1) == 0, record


_check_table()
