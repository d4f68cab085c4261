"""Publishing the finished model: the final weights, tokenizer and card, as an immutable version.

The output folder also holds checkpoints and run files that do not belong in a model repository (and
``training_args.bin`` / ``trainer_state.json`` record machine paths), so only the final model's files are
staged and handed to ``cards.targets.publish_folder``: the local hub by default, the Hub with ``push_to_hub``.
Files are hard-linked into the staging folder where the filesystem allows, so large weights are not copied.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from cards.targets import Published, get_target, publish_folder, stage_files

_SKIP = re.compile(r"^(checkpoint-\d+|runs|training_args\.bin|trainer_state\.json)$")


def final_files(output_dir: str | Path) -> list[Path]:
    """The files of the final model in ``output_dir`` (no checkpoints, run logs or hidden files)."""
    root = Path(output_dir)
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(p.startswith(".") or _SKIP.match(p) for p in rel.parts):
            continue
        out.append(path)
    return out


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
    root = Path(output_dir)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        stage = Path(tmp) / root.name
        stage_files(root, final_files(root), stage)
        return publish_folder(
            stage,
            repo_id,
            target=get_target(hub, token=token),
            version=version,
            repo_type="model",
            private=private,
        )
