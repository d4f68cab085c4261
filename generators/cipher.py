"""The cipher: a wrapper around any task, not a task (the encrypted-rewriting experiment).

A cipher is a bijection of the alphabet applied character by character, so it commutes with rewriting:
``encrypt(apply(x, y, z)) == apply(encrypt(x), encrypt(y), encrypt(z))``, and with Markov algorithms alike.
Tasks make their rows in plain text; :mod:`generators.blocks` enciphers every rule, input and output character
when it assembles a block (the prompt template's own text and the rule arrow written into prompts stay plain),
and :mod:`generators.plan` enciphers the instruction texts. No task knows whether a cipher is on.
"""

from __future__ import annotations

import numpy as np

from core.config import ConfigModel, Int, OptStr, Str
from core.errors import ConfigError
from generators.rng import generator, uniform01

CIPHERS = ("none", "caesar", "substitution")


class CipherConfig(ConfigModel):
    """A character-level cipher applied to every rule, input and output (the encrypted-rewriting task).

    ``caesar`` shifts each character by ``shift`` places within the alphabet; ``substitution`` maps the
    alphabet onto ``key`` (a permutation of it) or, with no key, onto a permutation drawn from ``seed``.
    """

    kind: Str = "none"
    shift: Int = 3
    key: OptStr = None
    seed: Int = 0


def validate_cipher(cfg) -> None:
    """The ``cipher`` section of a generator config (its alphabet is the space's)."""
    c = cfg.cipher
    if c.kind not in CIPHERS:
        raise ConfigError("cipher.kind", f"unknown cipher {c.kind!r} (choose from {', '.join(CIPHERS)})")
    if c.kind == "substitution" and c.key is not None:
        alph = cfg.space.alphabet
        if sorted(c.key) != sorted(alph):
            raise ConfigError("cipher.key", "must be a permutation of the alphabet (same characters, each once)")
    if c.kind != "none":
        alphabets = {cfg.space.alphabet, cfg.effective_test_space.alphabet}
        if len(alphabets) != 1:
            raise ConfigError("cipher", "a cipher needs space and test_space to share one alphabet")


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
