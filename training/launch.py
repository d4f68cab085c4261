"""``divtrain``: ``accelerate launch`` of ``training/sft.py``, with a user error as one line and exit status 2.

    divtrain --config_file training/accelerate/cpu.yaml training/sft.py --config training/recipes/tiny-cpu.yaml
    divtrain --config_file training/accelerate/multi_gpu.yaml --num_processes 8 -m training.sft --config ...
    python -m training.launch ...                                               # the same as divtrain

It takes ``accelerate launch``'s own arguments and runs accelerate's launcher in this process, so configs,
multi-GPU, multi-node, FSDP and DeepSpeed work as with ``accelerate launch``. What differs:

- before any worker starts (in about a second): the accelerate config, the training script and the recipe file
  must exist, and the recipe must be a YAML mapping with each key once;
- each worker checks the whole recipe before it loads data or a model (:mod:`training.recipe`) and the first
  worker of each machine prints the error as one line; ``accelerate launch`` would then add the worker's
  stderr again and a ``CalledProcessError`` traceback (``--quiet`` drops those but exits 1): here the launcher
  adds nothing and exits with the worker's own status, 2 for a user error (with several workers, torchrun's own
  record of that exit is dropped too);
- on a CPU config the thread count that ``accelerate launch`` would pick (physical cores / processes per
  machine) is passed to it, so it does not announce that choice on every run (:func:`cpu_threads`).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python -m training.launch` put the working directory first on sys.path: take it off (unless it is this
# checkout) before any package of ours is looked up, so that a same-named folder there cannot replace ours
if __name__ == "__main__" and sys.path and not getattr(sys.flags, "safe_path", False) \
        and Path(sys.path[0] or ".").resolve() == Path.cwd().resolve() != Path(__file__).resolve().parents[1]:
    del sys.path[0]

import logging  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

import yaml  # noqa: E402

from core.config import read_yaml_config  # noqa: E402
from core.errors import ConfigError  # noqa: E402

#: the exit status of a user error (training/sft.py prints its one line, then exits with it)
USER_ERROR = 2
#: torch.distributed's launcher (several workers) logs each failure here
TORCHRUN_LOGGER = "torch.distributed.elastic.multiprocessing.api"


class _UserErrorExit(logging.Filter):
    """Drops torchrun's ``failed (exitcode: 2) local_rank: ...`` record: a worker that exits with a user error has
    printed its one line. Every other failure (a crash, a signal) is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (str(record.msg).startswith("failed (exitcode: %s)") and args[:1] == (USER_ERROR,))


def quiet_user_error_exits() -> None:
    """Install the filter on torchrun's logger (idempotent)."""
    logger = logging.getLogger(TORCHRUN_LOGGER)
    if not any(isinstance(f, _UserErrorExit) for f in logger.filters):
        logger.addFilter(_UserErrorExit())


def one_line(text) -> str:
    return " ".join(str(text).split())


def parse_launch_args(argv: list[str]):
    """accelerate launch's arguments (its own parser: exact option names), or ConfigError in one line."""
    # deferred: accelerate imports torch (seconds); the sweep runner imports this module for cpu_threads
    from accelerate.commands.launch import launch_command_parser

    parser = launch_command_parser()

    def error(message: str):
        raise ConfigError(None, f"accelerate launch: {one_line(message)}")

    parser.error = error  # argparse would print accelerate's whole usage
    return parser.parse_args(argv)


def preflight(args) -> None:
    """What can be checked before any worker starts, without importing a deep-learning library: the files the
    command names, and the recipe's YAML (each key once)."""
    if args.config_file and not Path(args.config_file).is_file():
        raise ConfigError("config_file", f"accelerate config file {args.config_file} does not exist")
    if args.config_file:
        read_yaml_config(args.config_file, kind="accelerate config")  # YAML (or JSON), each key once
    if not args.module and not Path(args.training_script).is_file():
        raise ConfigError(None, f"training script {args.training_script} does not exist")
    script_args = list(args.training_script_args)
    recipe = next((a.split("=", 1)[1] for a in script_args if a.startswith("--config=")), None)
    if recipe is None and "--config" in script_args:
        i = script_args.index("--config")
        if i + 1 >= len(script_args):
            raise ConfigError("config", "--config needs a recipe file")
        recipe = script_args[i + 1]
    if recipe is not None:
        read_yaml_config(recipe, kind="recipe")


def cpu_threads(accelerate_config: str | Path | None, num_processes: int | None = None,
                num_machines: int | None = None, cpu: bool = False) -> int | None:
    """The ``--num_cpu_threads_per_process`` that ``accelerate launch`` picks itself for a CPU run (physical
    cores / processes per machine) and then announces on every run; None when it would pick nothing: the run
    is not on the CPU, OMP_NUM_THREADS is set (accelerate uses it silently), or one thread it is."""
    cfg = {}
    if accelerate_config:
        cfg = yaml.safe_load(Path(accelerate_config).read_text(encoding="utf-8")) or {}
    if not (cpu or cfg.get("use_cpu")) or os.environ.get("OMP_NUM_THREADS"):
        return None
    # deferred: psutil (an accelerate requirement) counts physical cores as accelerate does; only for CPU runs
    import psutil

    processes = int(num_processes or cfg.get("num_processes") or 1)
    per_machine = max(processes // max(int(num_machines or cfg.get("num_machines") or 1), 1), 1)
    threads = (psutil.cpu_count(logical=False) or 1) // per_machine
    return threads if threads > 1 else None


def launch(args) -> int:
    """Run accelerate's launcher on parsed arguments; the workers' exit status (they print their own errors)."""
    # deferred: accelerate imports torch (seconds)
    from accelerate.commands.launch import launch_command

    if args.num_cpu_threads_per_process is None:
        args.num_cpu_threads_per_process = cpu_threads(args.config_file, args.num_processes, args.num_machines,
                                                       args.cpu)
    quiet_user_error_exits()
    try:
        launch_command(args)
    except subprocess.CalledProcessError as exc:  # one worker (accelerate's simple launcher): it said why
        return exc.returncode if exc.returncode > 0 else 128 - exc.returncode
    except (ValueError, FileNotFoundError) as exc:  # accelerate's checks of its config, before any worker
        print(f"error: accelerate launch: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # torch.distributed's ChildFailedError (several workers): they said why
        codes = [f.exitcode for f in getattr(exc, "failures", {}).values()]
        if not codes:
            raise
        return next((c for c in codes if c > 0), 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``divtrain`` / ``python -m training.launch`` (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_launch_args(argv)
        preflight(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
