"""The CLI error wrapper shared by every command line (``datagen``, ``diveval``, ``python -m sweeps``).

A user error (:class:`~core.errors.ConfigError`, a missing file, an OS refusal) is printed as one line with
exit status 2, as for click's own usage errors; status 1 is left to failures of the work itself (a failed
upload, a verification that finds a mismatch).
"""

from __future__ import annotations

import functools

import click

from core.errors import ConfigError


class UserError(click.ClickException):
    """A bad request or input, printed as one line; exit status 2."""

    exit_code = 2


def user_errors(fn):
    """Print user-caused errors as one line (no traceback) and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # deferred: huggingface_hub takes a while to import and is only needed once a command runs
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        except LocalEntryNotFoundError as exc:  # a FileNotFoundError: not in the cache and the Hub not reachable
            reason = str(exc).strip().splitlines()[0]
            raise click.ClickException(f"cannot reach the Hub (HF_ENDPOINT, network) and nothing is cached: {reason}") from None
        except FileNotFoundError as exc:
            raise UserError(f"{exc.filename or exc}: no such file or folder") from None
        except OSError as exc:  # not a directory, permission denied, a busy folder, a full disk ...
            where = f"{exc.filename}: " if exc.filename else ""
            raise UserError(f"{where}{exc.strerror or exc}") from None

    return wrapper
