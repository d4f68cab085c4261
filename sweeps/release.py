"""Releasing a finished sweep (``python -m sweeps release SWEEP --repo-prefix org/name | local``).

What is published (to the Hub, or to the embedded local hub with ``--repo-prefix local``):

- **one dataset repo** (``org/name``; local: ``local/<sweep name>``) with one ``datasets`` config per run, named
  after the run id made Hub-safe (``I=400`` -> ``I400``, ``alpha=0.1_I=1000`` -> ``alpha0p1_I1000``):
  ``<config>/data/<split>-*.parquet`` and ``<config>/datagen.json`` (exactly the files ``datagen push`` would
  publish of that run's data), the sweep file (``sweep.yaml``), the sweep's plots (exactly the PNG files the
  release drew and recorded with their SHA-256 in ``plots.json``; any other PNG in the folders is left out, and
  the log says so) and a card listing every config (:mod:`cards.release_card`). ``load_dataset("org/name", "I400", revision="v1.0.0")`` loads one run's
  splits; ``datagen verify org/name --config I400`` (or ``--config all``) verifies them;
- **one model repo per run** (``org/name-<config>``): the files the trainer wrote for the final model (the
  allow-list of :mod:`training.publish`, TensorBoard event files included), the tokenizer, and a card with its
  scores as ``model-index`` (dataset = the dataset repo, config, split, revision). One
  repo per run rather than revisions of one repo: ``from_pretrained(repo)`` loads main, the Hub shows one card
  per repo (main's), collections list repos, and a model-index belongs to one model;
- **a collection** gathering the dataset repo and the model repos, a note per item (the run's knobs and scores).

Each repo is published as an immutable version in two steps (:func:`publishing.targets.stage_version` then
:func:`~publishing.targets.finish_version`): first every repo's one commit holding all its files (the dataset's
first: the model cards name its version), then, once all content is in place, the tags (on the local hub: the
version folders, copied in whole); the collection last. So no version points at partial content, and a release
interrupted before its tags leaves none. Re-running publishes nothing new (each repo's newest version already holds
the same content, the collection already holds the items); after an interruption it chooses the same versions,
makes no commit twice (a commit of files the branch already holds is skipped) and completes the release. A run whose evaluation is missing or stale (its stage signatures
in ``stages.json`` do not match the sweep's current settings) is refused before anything is published. The
publishing, staging included, ends within ``DATAGEN_HUB_DEADLINE`` seconds (:func:`publishing.hubclient.hub_deadline`).
``release.json`` in the sweep's output folder records what went where.
"""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cards.dataset_card import DEFAULT_LICENSE
from cards.release_card import render_release_model_card, render_study_card
from core.atomic import owned_tempdir, write_text_atomic
from core.config import load_yaml
from core.documents import read_json
from core.errors import ConfigError
from core.metadata import read_metadata
from core.safeio import read_hashed
from generators.verify import verify_folder
from publishing.cli import stage_dataset
from publishing.collections import Item, publish_hub_collection, publish_local_collection
from publishing.hubclient import hub_deadline
from publishing.localhub import check_hub_repo_id, split_repo_id
from publishing.targets import (
    HubTarget,
    LocalTarget,
    Staged,
    Target,
    default_token,
    finish_version,
    stage_version,
)
from sweeps.config import Run, Sweep, runs
from sweeps.runner import release_problem
from sweeps.table import PLOTS_RECORD, make_plots, recorded_plots, summarize, write_table
from training.publish import stage_model

SWEEP_FILE = "sweep.yaml"
MANIFEST = "release.json"
_CONFIG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def config_name(run_id: str) -> str:
    """A run id made a Hub-safe config name: ``=`` dropped, ``.`` -> ``p``, anything else odd -> ``-``."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", run_id.replace("=", "").replace(".", "p")).strip("-_")
    if not _CONFIG.match(name):
        raise ConfigError(None, f"run {run_id}: its id gives no usable config name ({name!r})")
    return name


@dataclass
class Destination:
    """Where a release goes: the Hub (``org/name``) or the local hub (``local/<sweep name>``)."""

    local: bool
    dataset_repo: str
    target: Target
    private: bool = False  # Hub repos and collection created private
    license: str = DEFAULT_LICENSE  # named in every card

    def model_repo(self, config: str) -> str:
        return f"{self.dataset_repo}-{config}"


def release_target(sweep: Sweep, prefix: str, *, private: bool = False, license: str | None = None) -> Destination:
    """``--repo-prefix``: ``local`` (the local hub, ``local/<sweep name>``), ``local/<name>``, or a Hub id."""
    license = license or DEFAULT_LICENSE
    if prefix == "local" or prefix.startswith("local/"):
        repo = f"local/{sweep.name}" if prefix == "local" else prefix
        split_repo_id(repo)
        return Destination(True, repo, LocalTarget(), license=license)
    check_hub_repo_id(prefix, "repo-prefix")
    if default_token() is None:
        raise ConfigError("token", "no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return Destination(False, prefix, HubTarget(), private, license)


@dataclass
class RunRelease:
    run: Run
    config: str
    meta: dict
    row: dict
    splits: dict  # eval.json splits


@dataclass
class Released:
    target: str
    dataset: dict
    models: dict[str, dict] = field(default_factory=dict)
    collection: dict = field(default_factory=dict)

    @property
    def new(self) -> int:
        """How many things this release published or changed (0: everything was already there)."""
        return (int(self.dataset["created"]) + sum(int(m["created"]) for m in self.models.values())
                + self.collection.get("changes", 0))


def check_runs(sweep: Sweep) -> list[RunRelease]:
    """Every run of the sweep, finished and evaluated from the current settings; ConfigError naming the first
    that is not (nothing is published then)."""
    out, names = [], {}
    for r in runs(sweep):
        problem = release_problem(sweep, r)
        if problem:
            raise ConfigError(None, f"run {r.run_id} cannot be released: {problem}")
        name = config_name(r.run_id)
        if name.lower() in names:
            raise ConfigError(None, f"runs {names[name.lower()]} and {r.run_id} would share the config name {name}")
        names[name.lower()] = r.run_id
        rdir = sweep.out / r.run_id
        results = read_json(rdir / "eval.json")
        out.append(RunRelease(r, name, read_metadata(rdir / "data"), summarize(sweep, r), results["splits"]))
    return out


def _plots(sweep: Sweep, rels: list[RunRelease], log=print) -> dict[str, str]:
    """The sweep's table and plots, drawn afresh from the released runs (as ``collect`` does), so the plot shows
    exactly their evaluations: ``{file name: SHA-256}`` as recorded when drawn (:func:`sweeps.table.make_plots`).
    Any other PNG in the output folder or a run folder is not published, and the log says so."""
    rows = [r.row for r in rels]
    write_table(sweep, rows)
    make_plots(sweep, rows)
    recorded = recorded_plots(sweep)
    others = [p for p in sorted(sweep.out.glob("*.png")) if p.name not in recorded]
    others += [p for r in rels for p in sorted((sweep.out / r.run.run_id).glob("*.png"))]
    for p in others:
        log(f"not published: {p.relative_to(sweep.out)} (not a plot this sweep drew and recorded)")
    return recorded


def stage_study(sweep: Sweep, rels: list[RunRelease], dest: Path, plots: dict[str, str]) -> None:
    """The dataset repo's files (the card comes once the version is known): each run's data, the sweep file and
    exactly the recorded plots, each copied as read and refused if its bytes are not the ones recorded."""
    for rel in rels:
        cdir = dest / rel.config
        stage_dataset(sweep.out / rel.run.run_id / "data", cdir)
        check = verify_folder(cdir, remake=False, progress=False, private=True)
        if not check.ok:
            raise ConfigError(None, f"run {rel.run.run_id}: its data does not match its datagen.json: "
                                    + "; ".join(check.problems))
    read_hashed(sweep.path.parent, sweep.path.name, dest / SWEEP_FILE)
    for name, sha in plots.items():
        got, _ = read_hashed(sweep.out, name, dest / name)  # no link followed; the copy is what was hashed
        if got != sha:
            raise ConfigError(None, f"{sweep.out / name} is not the plot the sweep drew (SHA-256 {got[:16]}, "
                                    f"recorded {sha[:16]} in {PLOTS_RECORD}): not published; run the release again "
                                    f"to draw it afresh")


def _note(rel: RunRelease) -> str:
    r = rel.row
    knobs = [f"I = {r['I']}", f"S = {r['S']:g}"]
    if r.get("alpha") is not None:
        knobs.append(f"alpha = {r['alpha']:g}")
    if "seed" in rel.run.overrides:
        knobs.append(f"seed {r['seed']}")
    scores = [f"{label} {100 * r[k]:.1f}%" for label, k in (("unseen", "test_unseen_accuracy"),
                                                               ("seen", "test_seen_accuracy")) if r.get(k) is not None]
    return ", ".join(knobs) + (": " + ", ".join(scores) if scores else "")


def release(sweep: Sweep, prefix: str, *, log=print, step: dict | None = None, private: bool = False,
            license: str | None = None) -> Released:
    """Publish the sweep's datasets, models and collection (see the module docstring). ``step`` (a dict) is kept
    naming what is being published, for the caller's failure message; ``private`` applies to the Hub repos and
    collection this release creates; ``license`` is named in every card (default cc-by-4.0)."""
    step = step if step is not None else {}
    where = release_target(sweep, prefix, private=private, license=license)
    rels = check_runs(sweep)
    with hub_deadline():  # the whole publishing ends within DATAGEN_HUB_DEADLINE
        out = _publish(sweep, where, rels, log, step)
    step.pop("now", None)
    log(f"released {sweep.name} to the {'local hub' if where.local else 'Hub'}: {out.new} new publishes or "
        f"changes; {sweep.out / MANIFEST}")
    return out


def _publish(sweep: Sweep, where: Destination, rels: list[RunRelease], log, step: dict) -> Released:
    """The body of :func:`release` once its runs are checked: stage and commit every repo, make the versions,
    gather the collection, write the manifest."""
    models = {rel.config: where.model_repo(rel.config) for rel in rels}
    for repo in models.values():
        (split_repo_id if where.local else check_hub_repo_id)(repo)
    with owned_tempdir("divsweep-release-") as tmp, ExitStack() as locks:
        locks.enter_context(where.target.lock(where.dataset_repo, "dataset"))
        for repo in models.values():
            locks.enter_context(where.target.lock(repo, "model"))
        # 1. every repo's content, committed (Hub) or staged (local hub), no version visible yet
        stage = tmp / "dataset"
        plots = _plots(sweep, rels, log)
        stage_study(sweep, rels, stage, plots)
        configs = [{"config": r.config, "run": r.run.run_id, "meta": r.meta, "row": r.row} for r in rels]

        def card(folder: Path, version: str) -> None:
            render_study_card(sweep.name, configs, repo_id=where.dataset_repo, version=version, local=where.local,
                              sweep_file=SWEEP_FILE, plots=list(plots), models=models,
                              license=where.license).save(folder / "README.md")

        step["now"] = f"dataset {where.dataset_repo} (its commit)"
        ds = stage_version(stage, where.dataset_repo, target=where.target, repo_type="dataset", prepare=card,
                           private=where.private,
                           message=lambda v: f"Release {sweep.name} {v}: {len(rels)} configs")
        staged = [_stage_model(sweep, rel, where, ds.version, tmp, step) for rel in rels]
        # 2. the versions appear, once every repo's content is in place
        out = Released("local" if where.local else "hub", {})
        for s, rel in zip([ds, *staged], [None, *rels]):
            what = f"dataset {s.repo_id}" if rel is None else f"model {s.repo_id}"
            step["now"] = f"{what} (its version {s.version})"
            done = finish_version(s, where.target)
            log(f"{what} {done.version}: {'published' if done.created else 'already published'}"
                f"{f' ({len(rels)} configs)' if rel is None else ''} -> {done.location}")
            entry = {"repo_id": done.repo_id, "version": done.version, "created": done.created,
                     "location": done.location}
            if rel is None:
                out.dataset = {**entry, "configs": [r.config for r in rels]}
            else:
                out.models[rel.config] = {**entry, "run": rel.run.run_id, "dataset_revision": ds.version,
                                          "scores": {k: v.get("accuracy") for k, v in rel.splits.items()}}
    # 3. the collection
    step["now"] = "the collection"
    items = [Item("dataset", where.dataset_repo, f"The study's datasets: {len(rels)} configs, one per run")]
    items += [Item("model", models[r.config], f"{r.config}: {_note(r)}") for r in rels]
    title = f"{sweep.name} (instruction-diversity study)"
    description = f"Datasets and models of the sweep {sweep.name}, one config and one model per run."
    ns = split_repo_id(where.dataset_repo)[0]
    if where.local:
        loc, changes = publish_local_collection(where.target.hub, ns, title, items, description)
    else:
        loc, changes = publish_hub_collection(where.target.api, ns, title, items, description, private=where.private)
    out.collection = {"title": title, "location": loc, "changes": changes}
    log(f"collection {title!r}: {'updated' if changes else 'unchanged'} -> {loc}")
    write_text_atomic(sweep.out / MANIFEST, json.dumps(
        {"sweep": sweep.name, "target": out.target, "dataset": out.dataset, "models": out.models,
         "collection": out.collection}, indent=2) + "\n")
    return out


def _stage_model(sweep: Sweep, rel: RunRelease, where: Destination, ds_version: str, tmp: Path, step: dict) -> Staged:
    repo = where.model_repo(rel.config)
    mdir = sweep.out / rel.run.run_id / "model"
    stage = tmp / f"model-{rel.config}"
    stage_model(mdir, stage)
    trainer_card = (stage / "README.md").read_text(encoding="utf-8") if (stage / "README.md").exists() else ""
    base = _base_model(trainer_card)

    def card(folder: Path, version: str) -> None:
        render_release_model_card(
            model_repo=repo, version=version, local=where.local, dataset_repo=where.dataset_repo,
            dataset_version=ds_version, config=rel.config, run=rel.run.run_id, study=sweep.name, meta=rel.meta,
            splits=rel.splits, trainer_card=trainer_card, base_model=base, license=where.license,
        ).save(folder / "README.md")

    step["now"] = f"model {repo} (its commit)"
    return stage_version(stage, repo, target=where.target, repo_type="model", prepare=card, private=where.private,
                         message=lambda v: f"Release {sweep.name} run {rel.run.run_id} {v}")


def _base_model(card_text: str) -> str | None:
    """The trainer card's ``base_model`` (a Hub id, set only for fine-tuned models)."""
    m = re.match(r"^---\n(.*?)\n---\n", card_text, re.S)
    if not m:
        return None
    try:
        meta = load_yaml(m.group(1), "the trainer's model card") or {}
    except ConfigError:
        return None
    base = meta.get("base_model") if isinstance(meta, dict) else None
    return base if isinstance(base, str) and base else None
