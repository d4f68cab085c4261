"""README's shell blocks run top to bottom on a fresh machine at the sizes they name (issue 21, items 6 and 9).

The ``readme_run`` fixture (conftest.py, tests/readme_run.py) runs every ```bash block of README.md in order, in a
copy of the checkout with a fresh HOME; blocks marked ``<!-- readme-test: skip REASON -->`` (network, gpu,
paper-scale, cluster, covered) are listed, not run. The tests after the first check what README's commands
left behind, in place of the tests that used to run the same commands again: the tiny training run (loss falls,
the model reloads and decodes, its card, publishing only when asked), the tiny sweep (tests/test_sweep.py) and
the GPU check's dry run (tests/test_gpu_check.py).
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from readme_run import README, SKIP_REASONS, blocks, run_readme

pytestmark = pytest.mark.slow


def test_readme_blocks_run_top_to_bottom(readme_run):
    assert readme_run.failure is None, readme_run.describe_failure()
    ran = [o.block.index for o in readme_run.outcomes if o.status == "passed"]
    assert ran == [o.block.index for o in readme_run.outcomes if o.block.skip is None] and len(ran) >= 5
    for o in readme_run.outcomes:  # the report names every block, how long it took, and why one was skipped
        print(f"{o.status:<8} {o.seconds:6.1f} s  {o.block.name}" + (f": {o.block.skip}" if o.block.skip else ""))


def test_only_marked_blocks_are_skipped_and_each_marker_says_why():
    text = README.read_text(encoding="utf-8")
    found = blocks(text)
    marked = [b for b in found if b.skip is not None]
    assert all(b.skip.split()[0] in SKIP_REASONS for b in marked), [(b.name, b.skip) for b in marked]
    # a marker that does not sit on the line before a block (a typo, a blank line moved) would run that block
    assert text.count("<!-- readme-test: skip") == len(marked)
    assert {b.skip.split()[0] for b in marked} <= set(SKIP_REASONS)
    assert len(found) - len(marked) >= 5, "README's CPU-sized blocks are unmarked"


def test_a_failing_block_is_named_with_its_line_and_the_rest_is_not_run(tmp_path):
    text = ("# Title\n\n```bash\ntrue\n```\n\n## Setup\n<!-- readme-test: skip gpu -->\n```bash\nexit 3\n```\n\n"
            "## Usage\n\n```bash\necho one\nfalse   # this one\necho never\n```\n\n```bash\ntrue\n```\n")
    run = run_readme(tmp_path, text, copy=False)
    assert [o.status for o in run.outcomes] == ["passed", "skipped", "failed", "not run"]
    failed = run.failure
    assert failed.failed_line == text.splitlines().index("false   # this one") + 1
    message = run.describe_failure()
    assert "bash block 3 of README.md" in message and "'Usage'" in message and "false   # this one" in message
    assert "one" in failed.output and "never" not in failed.output
    with pytest.raises(AssertionError, match="bash block 3"):
        run.require("anything")


def test_readme_commands_print_no_notice_that_does_not_concern_the_user(readme_run):
    """Issue 21, item 8, on README's own commands: accelerate's thread-count notice, bitsandbytes' kernel notice,
    transformers' gradient_checkpointing FutureWarning on TRL's default (the GPU check's dry run), no traceback."""
    readme_run.require(".")
    said = "\n".join(o.output for o in readme_run.outcomes)
    for notice in ("num_cpu_threads_per_process", "Failed to load CPU gemm_4bit_forward",
                   "`gradient_checkpointing` is deprecated", "Traceback"):
        assert notice not in said, notice


# ---- what README's commands left behind ---------------------------------------------------------------------


def _losses(output_dir) -> list[float]:
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def test_the_tiny_training_run_learns_reloads_and_publishes_only_when_asked(readme_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from eval.decode import greedy_decode

    out = readme_run.require("runs/tiny-cpu")
    losses = _losses(out)
    assert len(losses) >= 10 and losses[-1] < 0.85 * losses[0], losses  # fixed seed, 60 steps: about 2.4 -> 1.7
    hub = readme_run.home / ".cache" / "datagen" / "hub"  # the default local hub of the fresh HOME
    data = hub / "datasets" / "local" / "rewrite-tiny" / "versions" / "v1.0.0"
    rows = pq.read_table(next((data / "data").glob("test_unseen-*.parquet"))).slice(0, 4).to_pylist()
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    outputs = greedy_decode(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens=32)
    assert len(outputs) == 4 and any(outputs)
    assert set("".join(outputs)) <= set("abcdefghij")  # the tiny preset's letters: no special token decoded
    card = (out / "README.md").read_text()
    assert json.loads((data / "datagen.json").read_text())["fingerprint"] in card and "tiny-cpu.yaml" in card
    assert str(readme_run.root) not in card and str(readme_run.home) not in card
    models = hub / "models" / "local"
    assert not (models / "tiny-cpu").exists()  # the smoke recipe says publish: false
    published = models / "tiny-cpu-trl" / "versions" / "v1.0.0"  # --publish true
    assert (published / "model.safetensors").exists() and (published / "tokenizer.json").exists()
    assert not any(p.name.startswith("checkpoint-") for p in published.iterdir())
    assert not (published / "training_args.bin").exists()
    # `datagen remove rw --version v1.0.0 --yes` removed that version, and its number is kept from reuse
    rw = hub / "datasets" / "local" / "rw"
    assert not (rw / "versions" / "v1.0.0").exists() and (rw / "REMOVED").read_text().split() == ["v1.0.0"]


def test_the_single_results_file_plot_and_the_sweep_plots(readme_run):
    plots = readme_run.require("out/plots")
    assert (plots / "splits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (plots / "phase_transition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
