"""The public names as tools show them: secretscope.X as every public class's module, readable
defaults in help(), annotations that resolve, the typed surface importable at run time."""
from __future__ import annotations

import pickle
import pydoc
import re
import typing

import pytest

import secretscope

PUBLIC_CLASSES = [getattr(secretscope, n) for n in secretscope.__all__ if isinstance(getattr(secretscope, n), type)]


def test_public_classes_are_listed():
    names = {c.__name__ for c in PUBLIC_CLASSES}
    assert {"Protection", "Scope", "SecretFunction", "SecretscopeError", "NativeUnavailableError",
            "NativeLoadError"} <= names


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_public_classes_report_the_package_as_their_module(cls):
    assert cls.__module__ == "secretscope"
    assert getattr(secretscope, cls.__qualname__) is cls  # so the name it shows is importable
    typing.get_type_hints(cls)  # string annotations still resolve


def test_exceptions_print_as_package_names():
    try:
        raise secretscope.NativeUnavailableError("x")
    except ImportError as exc:
        import traceback
        assert traceback.format_exception_only(type(exc), exc) == ["secretscope.NativeUnavailableError: x\n"]


def test_protection_pickles_by_its_public_name():
    p = secretscope.protection()
    data = pickle.dumps(p)
    assert b"secretscope._protection" not in data
    assert pickle.loads(data) == p


def test_help_shows_no_object_addresses():
    for obj in (secretscope.secret, secretscope.Scope, secretscope.Protection, secretscope.protection):
        text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
        assert not re.search(r"object at 0x[0-9a-f]+", text), text
    signature = pydoc.render_doc(secretscope.secret, renderer=pydoc.plaintext).splitlines()[2]
    assert "<no function: a scope for `with`>" in signature, signature


def test_secret_without_a_function_is_still_the_scope_and_none_still_an_error():
    assert isinstance(secretscope.secret(), secretscope.Scope)
    with pytest.raises(TypeError, match="needs a callable"):
        secretscope.secret(None)  # type: ignore[call-overload]


def test_async_with_still_raises_at_run_time():
    import asyncio

    async def main() -> None:
        async with secretscope.secret():  # type: ignore[attr-defined]  # flagged on purpose
            pass

    with pytest.raises(TypeError, match="cannot be used inside a generator or coroutine"):
        asyncio.run(main())
