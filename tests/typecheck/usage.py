"""How secretscope's API types, for tests/test_typing.py (not a test module: it is never run).

mypy --strict and pyright strict must flag exactly the lines whose comment says expect-error, and no other.
"""
from __future__ import annotations

from typing import Callable, Iterator

from secretscope import Protection, Scope, SecretFunction, do, enabled, protection, secret


@secret
def derive(password: bytes, salt: bytes, *, n: int = 2**14) -> bytes:
    return password + salt + bytes(n)


key: bytes = derive(b"pw", b"salt")
key = derive(b"pw", b"salt", n=2)
original: Callable[..., bytes] = derive.__wrapped__  # the documented way to the undecorated function
label: str = derive.__name__ + derive.__qualname__
kept: SecretFunction[[bytes, bytes], bytes] = secret(lambda a, b: a + b)
derive(b"pw")  # expect-error: missing argument
derive(b"pw", "salt")  # expect-error: wrong argument type
wrong: int = derive(b"pw", b"salt")  # expect-error: the result is bytes
derive.__wrapped__(b"pw", 1)  # expect-error: __wrapped__ keeps the signature too


@secret()
def called(x: int) -> str:
    return str(x)


text: str = called(1)


class Keys:
    @secret
    def sign(self, message: bytes) -> bytes:
        return message


signature: bytes = Keys().sign(b"m")  # binds like a method: self is not passed again
Keys().sign(1)  # expect-error: wrong argument type
unbound: bytes = Keys.sign(Keys(), b"m")


@secret
def numbers() -> Iterator[int]:
    yield 1


total: int = sum(numbers())


@secret
async def fetch(x: int) -> int:
    return x


async def use() -> int:
    return await fetch(1)


def block() -> int:
    with secret():  # the scope never swallows an exception: no "missing return" below
        return 1


async def handler() -> None:
    async with secret():  # expect-error: a scope cannot span an await (it raises TypeError)
        pass


length: int = do(len, b"abc")
do(len, 1)  # expect-error: do() keeps f's signature
active: bool = enabled()
report: Protection = protection()
scope: Scope = secret()
