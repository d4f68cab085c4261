""".ci/known-good.txt must install beside pyproject.toml: CI's second run (pinned) tells a bug of ours from a new
release of a dependency only if pip can resolve those pins (CI stop 26: reasoning-gym pins tabulate==0.9.0 while
known-good held 0.10.0, so pip answered ResolutionImpossible and no verdict was printed)."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _drift():
    spec = importlib.util.spec_from_file_location("ci_drift", ROOT / ".ci" / "drift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_known_good_pin_satisfies_the_installed_requirements():
    assert _drift().refused_pins() == []


def test_a_pin_that_our_own_requirements_refuse_is_named(tmp_path, monkeypatch):
    drift = _drift()
    pins = tmp_path / "known-good.txt"
    pins.write_text("# header\nclick==0.1\npytest==1.0  # a dev extra's requirement\n")
    monkeypatch.setattr(drift, "KNOWN_GOOD", pins)
    refused = drift.refused_pins()
    assert any(line.startswith("click==0.1 is refused by instruction-diversity") for line in refused), refused
    assert any(line.startswith("pytest==1.0 is refused by instruction-diversity") for line in refused), refused


def test_a_distribution_installed_at_another_version_than_pinned_is_not_read(tmp_path, monkeypatch):
    """A fresh install's newer release may require other versions than its pinned one did: its requirements say
    nothing of the pinned environment, so they refuse nothing (drift.py lists the version change instead)."""
    drift = _drift()
    pins = tmp_path / "known-good.txt"
    # pytest installed at another version than pinned: its requirement on pluggy is not the pinned pytest's
    pins.write_text("pytest==0.0.1\npluggy==0.1\n")
    monkeypatch.setattr(drift, "KNOWN_GOOD", pins)
    refused = drift.refused_pins()
    assert not any(line.startswith("pluggy==0.1 is refused by pytest") for line in refused), refused
    assert any(line.startswith("pytest==0.0.1 is refused by instruction-diversity") for line in refused), refused
    # pinned at its installed version, the same requirement is read
    pins.write_text(f"pytest=={metadata.version('pytest')}\npluggy==0.1\n")
    assert any(line.startswith("pluggy==0.1 is refused by pytest") for line in drift.refused_pins())
