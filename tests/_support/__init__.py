"""Helpers the tests share (not tests themselves: pytest collects only tests/test_*.py).

- environment   ROOT, IN_CI, NATIVE_EXPECTED, run_python (a fresh interpreter), skip_locally_fail_in_ci
- residue       the scope runners and stack-residue helpers, and the sentinel tag ranges per test family
- scope_kinds   every kind of scope around enabled(), public API only (subinterpreters, fresh interpreters)
- probe_alloc   the probe-alloc object (a native library allocating through its own GOT) in ctypes
- cores         core dumps: the kernel's core_pattern, finding a core, searching it for a secret
- elf           a minimal ELF64 reader for the shared objects' properties
- native_libs   the real libraries of test_native_heap_libraries.py, one case each

Child processes, run by path: core_child.py (test_core.py), secretbuffer_child.py
(test_secretbuffer.py), native_libs_child.py (test_native_heap_libraries.py); imported by a child:
fallback_child.py (test_fallback.py, test_matrix.py's PyPy run).
"""
