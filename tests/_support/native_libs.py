"""Real cryptographic libraries handling a key, for the end-to-end native-heap tests.

Each case names the package it needs (a pip distribution of the `test` extra, or None for the
standard library), `run(key)` (what the child does with the key, dropping every result), and
`targets(key)` (what the parent searches the child's memory for: the key and what derives from
it).  tests/_support/native_libs_child.py runs a case; tests/test_native_heap_libraries.py searches.
"""
from __future__ import annotations

import hashlib
import hmac
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Optional

PEER_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")  # RFC 7748
SALT = b"secretscope-salt"
NONCE24 = bytes(range(24))
BCRYPT_SALT = b"$2b$04$" + b"abcdefghijklmnopqrstuu"


@dataclass(frozen=True)
class Case:
    package: Optional[str]                 # pip name, None: standard library
    module: str                            # importable name, to test availability
    run: Callable[[bytes], None]
    targets: Callable[[bytes], Dict[str, bytes]]
    leaves_copies: Callable[[], bool]      # the issue saw copies without a scope (the control)


def _nacl_box(key: bytes) -> None:
    from nacl.public import Box, PrivateKey, PublicKey
    box = Box(PrivateKey(key), PublicKey(PEER_PUBLIC))
    ct = box.encrypt(b"attack at dawn" * 4, NONCE24)
    del box, ct


def _nacl_box_targets(key: bytes) -> Dict[str, bytes]:
    from nacl.public import Box, PrivateKey, PublicKey
    return {"key": key, "shared key": Box(PrivateKey(key), PublicKey(PEER_PUBLIC)).shared_key()}


def _nacl_signing(key: bytes) -> None:
    from nacl.signing import SigningKey
    sk = SigningKey(key)
    sig = sk.sign(b"message")
    del sk, sig


def _argon2(key: bytes) -> None:
    from argon2.low_level import Type, hash_secret_raw
    raw = hash_secret_raw(key, SALT, time_cost=1, memory_cost=64, parallelism=1, hash_len=32, type=Type.ID)
    del raw


def _argon2_targets(key: bytes) -> Dict[str, bytes]:
    from argon2.low_level import Type, hash_secret_raw
    return {"key": key, "raw hash": hash_secret_raw(key, SALT, time_cost=1, memory_cost=64, parallelism=1,
                                                    hash_len=32, type=Type.ID)}


def _pycryptodome(key: bytes) -> None:
    from Crypto.Cipher import AES, ChaCha20
    aes = AES.new(key, AES.MODE_ECB)
    ct = aes.encrypt(b"0123456789abcdef" * 4)
    chacha = ChaCha20.new(key=key, nonce=NONCE24[:12])
    ct2 = chacha.encrypt(b"x" * 64)
    del aes, ct, chacha, ct2


def _bcrypt(key: bytes) -> None:
    import bcrypt
    hashed = bcrypt.hashpw(key.hex().encode()[:64], BCRYPT_SALT)
    del hashed


def _bcrypt_targets(key: bytes) -> Dict[str, bytes]:
    import bcrypt
    password = key.hex().encode()[:64]
    return {"password": password, "hash": bcrypt.hashpw(password, BCRYPT_SALT)[29:]}


def _cryptography(key: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    shared = X25519PrivateKey.from_private_bytes(key).exchange(X25519PublicKey.from_public_bytes(PEER_PUBLIC))
    ct = AESGCM(key).encrypt(NONCE24[:12], b"attack at dawn", None)
    del shared, ct


def _cryptography_targets(key: bytes) -> Dict[str, bytes]:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    shared = X25519PrivateKey.from_private_bytes(key).exchange(X25519PublicKey.from_public_bytes(PEER_PUBLIC))
    return {"key": key, "shared secret": shared}


def _hashlib(key: bytes) -> None:
    d1 = hashlib.blake2b(b"short", key=key, digest_size=32).digest()
    d2 = hashlib.blake2s(b"short", key=key).digest()
    d3 = hmac.new(key, b"short", "sha256").digest()
    del d1, d2, d3


def _hashlib_targets(key: bytes) -> Dict[str, bytes]:
    return {"key": key,
            "blake2b": hashlib.blake2b(b"short", key=key, digest_size=32).digest(),
            "hmac": hmac.new(key, b"short", "sha256").digest()}
    # (pbkdf2/scrypt output goes through 3.15's bytes-writer free list: issue 12's free-list part)


def _key_only(key: bytes) -> Dict[str, bytes]:
    return {"key": key}


CASES: Dict[str, Case] = {
    "pynacl-box": Case("pynacl", "nacl", _nacl_box, _nacl_box_targets, lambda: True),
    "pynacl-signing": Case("pynacl", "nacl", _nacl_signing, _key_only, lambda: True),
    "argon2-cffi": Case("argon2-cffi", "argon2", _argon2, _argon2_targets, lambda: True),
    "pycryptodome": Case("pycryptodome", "Crypto", _pycryptodome, _key_only, lambda: True),
    # bcrypt's Rust heap string: seen on the 3.10-3.13 wheels
    "bcrypt": Case("bcrypt", "bcrypt", _bcrypt, _bcrypt_targets, lambda: sys.version_info < (3, 14)),
    # OpenSSL wipes what it frees: nothing to find with or without a scope
    "cryptography": Case("cryptography", "cryptography", _cryptography, _cryptography_targets, lambda: False),
    # HACL* BLAKE2 state in libc malloc from 3.14
    "hashlib": Case(None, "hashlib", _hashlib, _hashlib_targets, lambda: sys.version_info >= (3, 14)),
}
