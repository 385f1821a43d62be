"""The public API contract of DESIGN.md: decorator forms, binding, metadata, do, enabled."""
from __future__ import annotations

import functools
import inspect
import threading

import pytest

import secretscope
from secretscope import Protection, do, enabled, protection, secret


def test_public_names():
    assert set(secretscope.__all__) >= {"secret", "do", "enabled", "protection", "Protection"}
    assert isinstance(protection(), Protection)


def test_bare_and_called_decorator(native):
    @secret
    def a(x: int, y: int = 2) -> tuple:
        return x + y, enabled()

    @secret()
    def b(x: int, *, k: str = "k") -> tuple:
        return x, k, enabled()

    assert a(1) == (3, True)
    assert a(1, y=5) == (6, True)
    assert b(4, k="z") == (4, "z", True)
    assert enabled() is False


def test_metadata_and_signature():
    def derive(password: bytes, salt: bytes = b"", *, rounds: int = 3) -> bytes:
        """Derive a key."""
        return password + salt

    wrapped = secret(derive)
    assert wrapped.__name__ == "derive"
    assert wrapped.__qualname__ == derive.__qualname__
    assert wrapped.__doc__ == "Derive a key."
    assert wrapped.__wrapped__ is derive
    assert wrapped.__module__ == derive.__module__
    assert inspect.signature(wrapped) == inspect.signature(derive)
    assert wrapped.__annotations__ == derive.__annotations__
    assert wrapped(b"pw", b"s", rounds=1) == b"pws"


def test_methods_bind_like_the_original(native):
    class Keyring:
        def __init__(self) -> None:
            self.secret = 41

        @secret
        def method(self, n: int) -> tuple:
            return self.secret + n, enabled()

        @secret
        @staticmethod
        def static_outer(n: int) -> tuple:
            return n, enabled()

        @staticmethod
        @secret
        def static_inner(n: int) -> tuple:
            return n, enabled()

        @secret
        @classmethod
        def cls_outer(cls, n: int) -> tuple:
            return cls.__name__, n, enabled()

        @classmethod
        @secret
        def cls_inner(cls, n: int) -> tuple:
            return cls.__name__, n, enabled()

    k = Keyring()
    assert k.method(1) == (42, True)
    assert Keyring.method(k, 1) == (42, True)
    assert k.static_outer(2) == Keyring.static_outer(2) == (2, True)
    assert k.static_inner(3) == Keyring.static_inner(3) == (3, True)
    assert k.cls_outer(4) == Keyring.cls_outer(4) == ("Keyring", 4, True)
    assert k.cls_inner(5) == Keyring.cls_inner(5) == ("Keyring", 5, True)
    assert isinstance(Keyring.__dict__["static_outer"], staticmethod)
    assert isinstance(Keyring.__dict__["cls_outer"], classmethod)
    assert inspect.signature(Keyring.method) == inspect.signature(Keyring.method.__wrapped__)


def test_callable_objects_and_partials(native):
    class Deriver:
        def __call__(self, x: int) -> tuple:
            return x * 2, enabled()

    assert secret(Deriver())(4) == (8, True)
    assert secret(functools.partial(lambda a, b: (a + b, enabled()), 1))(2) == (3, True)
    assert secret(len)(b"abc") == 3


def test_do_forwards_arguments_and_result(native):
    def f(*args, **kwargs):
        return args, kwargs, enabled()

    assert do(f) == ((), {}, True)
    assert do(f, 1, 2, a=3) == ((1, 2), {"a": 3}, True)
    assert do(dict, a=1) == {"a": 1}
    with pytest.raises(TypeError, match="missing required argument"):
        do()  # type: ignore[call-arg]


def test_with_block(native):
    assert enabled() is False
    with secret() as value:
        assert value is None
        assert enabled() is True
    assert enabled() is False


def test_nested_scopes(native):
    @secret
    def inner() -> bool:
        return enabled()

    @secret
    def outer() -> tuple:
        before = enabled()
        with secret():
            middle = do(inner)
        return before, middle, enabled()

    assert outer() == (True, True, True)
    with secret():
        with secret():
            assert enabled()
        assert enabled()
    assert not enabled()


def test_enabled_is_per_thread(native):
    seen = {}
    started = threading.Event()
    release = threading.Event()

    def other() -> None:
        seen["other_before"] = enabled()
        started.set()
        release.wait(10)
        seen["other_during"] = enabled()

    t = threading.Thread(target=other)
    t.start()
    started.wait(10)
    with secret():
        seen["main"] = enabled()
        release.set()
        t.join(10)
    assert seen == {"other_before": False, "main": True, "other_during": False}


def test_thread_started_inside_scope_inherits_it_unless_opted_out(native):
    from secretscope import inherit
    result = []

    @secret
    def spawn() -> None:
        t = threading.Thread(target=lambda: result.append(enabled()))
        t.start()
        t.join()
        result.append(enabled())

    spawn()
    assert result == [True, True]  # issue 15 (golang/go#76477); tests/test_inherit.py has the rest
    previous = inherit(False)  # Go 1.26's semantics
    try:
        spawn()
    finally:
        inherit(previous)
    assert result == [True, True, False, True]


@pytest.mark.parametrize("bad", [None, 3, "text", b"bytes", object()])
def test_decorating_a_non_callable_is_a_clear_error(bad):
    with pytest.raises(TypeError, match="needs a callable"):
        secret(bad)


def test_scope_repr_and_reuse():
    s = secret()
    assert repr(s) == "secretscope.secret()"
    assert secret() is not s  # one per block: its exit pairs with its own enter
    for _ in range(2):  # reusable one block after another
        with s:
            assert enabled() is (protection().backend == "native")
    assert not enabled()


def test_protection_fields(native):
    p = protection()
    assert p.backend == "native"
    assert p.platform.startswith("linux-")
    assert p.registers and p.stack
    assert p.heap is native.heap.available
    assert p.signal_stacks is native.signal_stacks
    assert (p.reason is None) is p.complete  # whatever is not covered is explained


@secret
def module_level_derive(x: int) -> tuple:
    """A decorated function pickle can find by its qualified name."""
    return x, enabled()


def test_decorated_object_is_function_like():
    # pickled and copied by reference, like a function; weak references; a clear repr
    import copy
    import pickle
    import weakref

    f = module_level_derive
    assert pickle.loads(pickle.dumps(f)) is f
    assert copy.copy(f) is f and copy.deepcopy(f) is f
    assert weakref.ref(f)() is f
    assert "module_level_derive" in repr(f)
    assert f.__dict__["__wrapped__"] is f.__wrapped__
    f.custom = 1  # function attributes
    assert f.custom == 1
    del f.custom
    assert callable(f) and f(3)[0] == 3


def test_decorated_object_cannot_be_made_directly(native):
    with pytest.raises(TypeError):
        type(module_level_derive)()


def test_decorated_objects_in_cycles_are_collected():
    # the object references the wrapped function, which references the object (a closure cell):
    # only the garbage collector can free the pair, and it must
    import gc
    import weakref

    def make() -> "weakref.ref[object]":
        @secret
        def recursive(n: int) -> int:
            return n if n <= 0 else recursive(n - 1)

        assert recursive(3) == 0
        return weakref.ref(recursive)

    refs = [make() for _ in range(20)]
    gc.collect()
    assert [r() for r in refs] == [None] * 20


def test_binding_through_instance_class_and_getattr(native):
    class K:
        @secret
        def m(self, x: int) -> tuple:
            return self, x, enabled()

    k = K()
    bound = getattr(k, "m")
    assert bound.__self__ is k and bound(1) == (k, 1, True)
    assert K.m is K.__dict__["m"]  # through the class: the object itself, as for a function
    assert K.__dict__["m"].__get__(None, K) is K.m
    assert k.m(2) == (k, 2, True)
