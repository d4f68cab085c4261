"""Character ciphers for the encrypted-rewriting task.

A cipher is a bijection of the alphabet applied character by character, so it commutes with rewriting:
``encrypt(apply(x, y, z)) == apply(encrypt(x), encrypt(y), encrypt(z))``. The generator applies it to rules,
inputs and outputs (the prompt template's own text stays plain).
"""

from __future__ import annotations

import numpy as np

from generators.config import CipherConfig
from generators.rng import generator, uniform01


class Cipher:
    """A character substitution over an alphabet, as a 256-entry byte table (and its inverse)."""

    def __init__(self, alphabet: str, image: str):
        if sorted(alphabet) != sorted(image):
            raise ValueError("a cipher's image must be a permutation of its alphabet")
        self.alphabet, self.image = alphabet, image
        self.table = np.arange(256, dtype=np.uint8)
        self.inverse = np.arange(256, dtype=np.uint8)
        for a, b in zip(alphabet.encode("ascii"), image.encode("ascii")):
            self.table[a] = b
            self.inverse[b] = a

    @property
    def is_identity(self) -> bool:
        return self.alphabet == self.image

    def encrypt(self, text: str) -> str:
        return text.translate(str.maketrans(self.alphabet, self.image))

    def decrypt(self, text: str) -> str:
        return text.translate(str.maketrans(self.image, self.alphabet))

    def encrypt_bytes(self, mat: np.ndarray) -> np.ndarray:
        """Encrypt a byte matrix (padding bytes 0 stay 0)."""
        return mat if self.is_identity else self.table[mat]


def make_cipher(cfg: CipherConfig, alphabet: str) -> Cipher:
    if cfg.kind == "none":
        return Cipher(alphabet, alphabet)
    if cfg.kind == "caesar":
        s = cfg.shift % len(alphabet)
        return Cipher(alphabet, alphabet[s:] + alphabet[:s])
    if cfg.kind == "substitution":
        if cfg.key is not None:
            return Cipher(alphabet, cfg.key)
        perm = np.argsort(uniform01(generator(cfg.seed, "cipher", alphabet), len(alphabet)), kind="stable")
        return Cipher(alphabet, "".join(alphabet[i] for i in perm))
    raise ValueError(f"unknown cipher {cfg.kind!r}")
