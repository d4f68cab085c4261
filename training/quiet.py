"""Silencing one known, harmless notice of a dependency, and nothing else.

bitsandbytes (0.49+) warns on import, on CPUs with AVX-512 BF16, that it could not load an optional faster 4-bit
CPU kernel from the ``kernels`` package: ``Failed to load CPU gemm_4bit_forward from kernels-community: No module
named 'kernels'``. Every training run printed it although nothing is wrong (the built-in kernel is used, and 4-bit
CPU matmuls are not what our recipes run). :func:`quiet_dependency_notices` drops exactly that record: only
from that logger, only when the cause is the ``kernels`` package being absent. Any other message of that logger,
and the same message with another cause (``kernels`` installed but failing), still shows.

accelerate's ``--num_cpu_threads_per_process was set to N`` notice comes from ``accelerate launch`` itself, before
our code runs; the sweep runner passes that value explicitly instead (:func:`sweeps.runner.train_command`).
"""

from __future__ import annotations

import logging

BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"
KERNEL_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"


class _MissingKernelsNotice(logging.Filter):
    """Drops bitsandbytes' notice that the optional ``kernels`` package is not installed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(KERNEL_NOTICE):
            return True
        cause = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (isinstance(cause, ModuleNotFoundError) and cause.name == "kernels")


def quiet_dependency_notices() -> None:
    """Install the filter (idempotent); call it before bitsandbytes is imported."""
    logger = logging.getLogger(BNB_CPU_LOGGER)
    if not any(isinstance(f, _MissingKernelsNotice) for f in logger.filters):
        logger.addFilter(_MissingKernelsNotice())
