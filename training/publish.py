"""Publishing the finished model: the final weights, tokenizer and card, as an immutable version.

Only the files the trainer writes for the final model are published (:data:`MODEL_FILES`: what
``save_pretrained`` of a model, a peft adapter and a tokenizer writes, our card, and the metrics ``save_metrics``
writes), and the TensorBoard event files under ``runs/`` (:data:`EVENT_FILES`, where the Trainer's
``report_to: tensorboard`` writes them), so the Hub shows the training curves in the model's metrics tab.
Checkpoints and run files (:data:`RUN_FILES`: ``checkpoint-N/``, ``training_args.bin``, ``trainer_state.json``,
which record machine paths and optimizer state) stay behind unread. Anything else in the output folder or in
``runs/`` (a user's notes, a symlink anywhere, a hidden or special file, a hard-linked file) refuses the
publish, naming every one, before anything is copied: nothing outside the folder is ever read. Each file is read
once (no link followed) into a private staging folder, which is what ``publishing.targets.publish_folder`` publishes
(the local hub by default, the Hub with ``push_to_hub``).

    python -m training.publish OUTPUT_DIR REPO_ID [--hub] [--version v1.0.0] [--private]

publishes a finished output folder again (e.g. after moving a refused file out of it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from core.errors import ConfigError
from core.safeio import read_hashed, scan
from publishing.hubclient import failure_reason
from publishing.localhub import check_hub_repo_id, check_local_name
from publishing.targets import Published, get_target, publish_folder

MODEL_FILES = re.compile(
    r"""^(README\.md
    |config\.json|generation_config\.json
    |model\.safetensors|model-\d{5}-of-\d{5}\.safetensors|model\.safetensors\.index\.json
    |adapter_config\.json|adapter_model\.safetensors
    |tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|chat_template\.jinja
    |chat_template\.json|vocab\.json|merges\.txt|vocab\.txt|tokenizer\.model|spiece\.model
    |train_results\.json|all_results\.json)$""",
    re.X,
)
"""The files of a final model, at the top of the output folder (of sub-folders only runs/ is published)."""
EVENT_FILES = re.compile(r"^runs/(?:[^/.][^/]*/)*events\.out\.tfevents\.[^/]+$")
"""TensorBoard event files, in ``runs/`` or its sub-folders (the Trainer writes ``runs/<date>_<host>/``)."""
EVENT_FOLDERS = re.compile(r"^runs(?:/[^/.][^/]*)*$")
RUN_FILES = re.compile(r"^(checkpoint-\d+|training_args\.bin|trainer_state\.json|\.gitattributes|completions)$")
"""Trainer by-products (and a pulled model's ``.gitattributes``, the Hub's own file) never published nor read;
``completions/`` holds GRPO's sampled completions and rewards (``log_completions: true``)."""


def model_files(output_dir: str | Path) -> list[str]:
    """The names of the final model's files in ``output_dir``; ConfigError naming everything else found there
    (except :data:`RUN_FILES`)."""
    root = Path(output_dir)
    if not root.is_dir():
        raise ConfigError("output_dir", f"{root} is not a folder")
    keep, refused, skip = [], [], ()
    for e in scan(root):
        if skip and e.rel.startswith(skip):
            continue
        top = e.rel.split("/")[0]
        if RUN_FILES.match(top):
            if e.kind == "dir":
                skip = skip + (e.rel + "/",)
            continue
        if e.kind == "dir" and EVENT_FOLDERS.match(e.rel):
            continue  # looked into: only its event files are kept
        if e.kind != "file":
            kind = {"dir": "folder", "symlink": "symlink", "other": "special file"}[e.kind]
            refused.append(f"{kind} {e.rel}{'/' if e.kind == 'dir' else ''}")
            if e.kind == "dir":
                skip = skip + (e.rel + "/",)
        elif not (MODEL_FILES.match(e.rel) or EVENT_FILES.match(e.rel)):
            refused.append(f"unlisted {e.rel}")
        elif e.links > 1:
            refused.append(f"hard-linked {e.rel} (copy it to make it one file)")
        else:
            keep.append(e.rel)
    if refused:
        raise ConfigError(
            "output_dir",
            f"{root} holds files that are not the trained model's, so nothing was published (move them out, then "
            f"publish with `python -m training.publish`): {', '.join(refused)}",
        )
    return keep


def check_output_dir(output_dir: str | Path) -> None:
    """Before training: refuse (see :func:`model_files`) an output folder that already holds other files, rather
    than after the run."""
    if Path(output_dir).is_dir():
        model_files(output_dir)


def final_files(output_dir: str | Path) -> list[Path]:
    """The paths of the final model's files in ``output_dir`` (see :func:`model_files`)."""
    root = Path(output_dir)
    return [root / rel for rel in model_files(root)]


def stage_model(output_dir: str | Path, dest: Path) -> list[str]:
    """Copy the final model's files into ``dest``, each read once without following links."""
    names = model_files(output_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in names:
        read_hashed(output_dir, rel, dest / rel)
    return names


def publish_model(
    output_dir: str | Path,
    repo_id: str,
    *,
    hub: bool = False,
    version: str | None = None,
    private: bool = False,
    token: str | None = None,
) -> Published:
    """Publish the final model in ``output_dir`` as a version of ``repo_id`` (local hub, or the Hub)."""
    if hub:
        check_hub_repo_id(repo_id, "hub_model_id")
    else:
        check_local_name(repo_id, "model_name")
    root = Path(output_dir)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        stage = Path(tmp) / (root.resolve().name or "model")
        stage_model(root, stage)
        return publish_folder(
            stage,
            repo_id,
            target=get_target(hub, token=token),
            version=version,
            repo_type="model",
            private=private,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir")
    parser.add_argument("repo_id")
    parser.add_argument("--hub", action="store_true", help="publish to the Hub (HF_TOKEN), not the local hub")
    parser.add_argument("--version", help="version such as v1.0.0 (default: the next minor one)")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    try:
        done = publish_model(args.output_dir, args.repo_id, hub=args.hub, version=args.version, private=args.private)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        reason = failure_reason(exc, include_os=True)
        if reason is None:
            raise
        print(f"error: publishing {args.repo_id} failed ({reason}); no version was made: run it again", file=sys.stderr)
        return 1
    what = "published" if done.created else "already published (same content)"
    print(f"{what}: {done.repo_id} {done.version} -> {done.location}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
