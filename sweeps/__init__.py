"""The study orchestrator (layer: sweeps, the top): generate -> train -> evaluate each run of a sweep file and
collect one results table with plots (``python -m sweeps run|emit|collect SWEEP_FILE``, or ``divsweep``), and
release the study (``python -m sweeps release``).

The sweep files reproducing the paper's experiments (paper scale and reduced scale) are the YAML files beside
these modules. :mod:`sweeps.config` reads a sweep file, :mod:`sweeps.runner` runs its stages (as subprocesses
immune to same-named packages in the working directory), :mod:`sweeps.table` collects, :mod:`sweeps.release` publishes
the study (a dataset repo with a config per run, a model repo per run, a collection), :mod:`sweeps.cli` is the
command line. May import every other package.
"""
