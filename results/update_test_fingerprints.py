"""Generator 2.1 numbers the unseen-test rules from a fixed base (not from I): re-record the committed toy runs'
fingerprints, after proving, run by run, that nothing they trained or were scored on changed but that number.

For each row of results/<sweep>/results.json, the run's data is made twice from its sweep file: with generator 2.0
(the version that made the data the run trained and was scored on) and with 2.1 (this code). It checks that

- the 2.0 data has the fingerprint the row records (so it is the run's data),
- the 2.1 data has the same train, validation and test_seen splits (equal fingerprints), and its test_unseen split
  the same rows but for ``instruction_id``: every other column (the scored prompts, the expected completions,
  instructions, inputs, no-op flags, pattern lengths) is identical,

and only then writes the 2.1 fingerprints into the row (``dataset_fingerprint``, ``test_unseen_fingerprint``), in
results.json and results.csv. It changes nothing when a check fails; run again, it checks the 2.1 fingerprints the
rows then record. About a minute on 2 CPU cores:

    python results/update_test_fingerprints.py            # check and rewrite
    python results/update_test_fingerprints.py --check    # check only
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from generators.build import generate
from sweeps.config import generator_config, load_sweep, runs

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ("tiny_cpu", "toy_cpu_phase_transition", "toy_cpu_power_law", "toy_cpu_semantic")  # results/<name>, sweeps/<name>.yaml


def main(check_only: bool) -> int:
    changed, renamed = {}, {}
    for name in SWEEPS:
        path = ROOT / "results" / name / "results.json"
        results = json.loads(path.read_text())
        sweep = load_sweep(ROOT / "sweeps" / f"{name}.yaml")
        by_id = {r.run_id: r for r in runs(sweep)}
        for row in results["rows"]:
            cfg = generator_config(sweep, by_id[row["run"]])
            with tempfile.TemporaryDirectory() as tmp:
                old = generate(cfg, Path(tmp) / "v2.0", progress=False, card=False, version="2.0")
                new = generate(cfg, Path(tmp) / "v2.1", progress=False, card=False)
                assert row["dataset_fingerprint"] in (old["fingerprint"], new["fingerprint"]), (name, row["run"])
                for split in ("train", "validation", "test_seen"):
                    assert old["splits"][split]["fingerprint"] == new["splits"][split]["fingerprint"], (name, split)
                a, b = (pq.read_table([Path(tmp) / v / f for f in m["splits"]["test_unseen"]["files"]])
                        for v, m in (("v2.0", old), ("v2.1", new)))
                scored = [c for c in a.column_names if c != "instruction_id"]
                assert a.select(scored).equals(b.select(scored)), (name, row["run"], "scored columns differ")
                assert a.column("instruction_id") != b.column("instruction_id")
            pairs = [("dataset_fingerprint", old["fingerprint"], new["fingerprint"])]
            if "test_unseen_fingerprint" in row:
                unseen = old["splits"]["test_unseen"]["fingerprint"], new["splits"]["test_unseen"]["fingerprint"]
                pairs.append(("test_unseen_fingerprint", *unseen))
            for key, was, now in pairs:
                assert row[key] in (was, now), (name, row["run"], key)
                row[key] = now
                renamed.setdefault(name, {})[was] = now
            print(f"{name} {row['run']}: 2.0 data checked; test_unseen differs in instruction_id only")
        changed[path] = results
    if not check_only:
        for path, results in changed.items():
            path.write_text(json.dumps(results, indent=2) + "\n")
            table = path.with_suffix(".csv")
            text = table.read_bytes()  # bytes: the csv's CRLF line ends stay as they are
            for was, now in renamed[path.parent.name].items():
                text = text.replace(was.encode(), now.encode())
            table.write_bytes(text)
            print(f"rewrote {path.relative_to(ROOT)} and {table.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
