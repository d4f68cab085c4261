"""No Hub download when bitsandbytes is imported, and no notice about the download it did not make.

bitsandbytes (0.49+), imported on a CPU with AVX-512 BF16 (trl and peft import it), asks the ``kernels`` package
for an optional faster 4-bit CPU kernel *at import time*: ``kernels.get_kernel("kernels-community/
quantization-bitsandbytes")`` is a Hub download of compiled code, made whether or not anything 4-bit ever runs.
With ``kernels`` absent, offline, or the repository not trusted, it logs ``Failed to load CPU gemm_4bit_forward
from kernels-community: ...`` (a warning of the logger ``bitsandbytes.backends.cpu.ops``) and uses its built-in
kernel. transformers 5.25 requires ``kernels``, so since then every training run made that network call (several
seconds offline) and printed the notice, which users read as the cause of whatever went wrong next.

The fix is at the depth where it arises: :func:`quiet_dependency_notices` imports bitsandbytes itself, once, with
``kernels.get_kernel`` answering that one repository with :class:`KernelFetchSkipped` instead of going to the Hub
(every other repository is passed through), and drops exactly the notice that names that cause, or the
``kernels`` package being absent. bitsandbytes then uses its built-in 4-bit CPU kernel, as it does offline; our
recipes run no 4-bit CPU matmul. Any other message of that logger, and the same message with another cause, still
shows. A user who points ``kernels`` at local builds (``LOCAL_KERNELS``) gets bitsandbytes' own behaviour.

accelerate's ``--num_cpu_threads_per_process was set to N`` notice comes from ``accelerate launch`` itself, before
our code runs; ``divtrain`` (:mod:`training.launch`, which the sweep runner also uses) passes that value explicitly.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"
KERNEL_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"
#: the repository bitsandbytes fetches at import
BNB_KERNEL_REPO = "kernels-community/quantization-bitsandbytes"


class KernelFetchSkipped(RuntimeError):
    """Raised in place of bitsandbytes' import-time Hub download of its optional 4-bit CPU kernel."""


class _SkippedKernelNotice(logging.Filter):
    """Drops bitsandbytes' notice when its cause is the skipped fetch or the ``kernels`` package being absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(KERNEL_NOTICE):
            return True
        cause = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(cause, KernelFetchSkipped):
            return False
        return not (isinstance(cause, ModuleNotFoundError) and cause.name == "kernels")


def _import_bitsandbytes_without_fetch() -> None:
    if "bitsandbytes" in sys.modules or os.environ.get("LOCAL_KERNELS"):
        return
    try:  # deferred: optional, and only to intercept one call during bitsandbytes' import
        kernels = importlib.import_module("kernels")
    except ImportError:
        kernels = None
    original = getattr(kernels, "get_kernel", None)

    def get_kernel(repo_id, *args, **kwargs):
        if repo_id == BNB_KERNEL_REPO:
            raise KernelFetchSkipped(f"{BNB_KERNEL_REPO} is not downloaded at import (training/quiet.py)")
        return original(repo_id, *args, **kwargs)

    if original is not None:
        kernels.get_kernel = get_kernel
    try:  # deferred: bitsandbytes is an optional, Linux-only dependency; it is imported here, once, on purpose
        importlib.import_module("bitsandbytes")
    except Exception:  # noqa: BLE001 - absent or broken: whoever needs it reports that when it is used
        pass
    finally:
        if original is not None:
            kernels.get_kernel = original


def quiet_dependency_notices() -> None:
    """Install the filter (idempotent), then import bitsandbytes without its Hub fetch; call it before anything
    imports bitsandbytes (transformers' quantizers, trl, peft)."""
    logger = logging.getLogger(BNB_CPU_LOGGER)
    if not any(isinstance(f, _SkippedKernelNotice) for f in logger.filters):
        logger.addFilter(_SkippedKernelNotice())
    _import_bitsandbytes_without_fetch()
