"""Download the wheels the lent GPU machine lacks (Python 3.12, manylinux x86-64) into a git-ignored folder.

    python benchmarks/fetch_gpu_wheels.py [--dest .whl] [--max-mib 60] [--no-slim]

That machine (the device tool's ``nvidia-h200``; its package list is in the device README's KINDS.md) has Python
3.12, torch 2.11 + CUDA 13, transformers 5.17, accelerate 1.15, peft, pyarrow, click, ... but no ``trl``, no
``datasets``, no ``bitsandbytes``, and huggingface_hub 1.33 where this project needs 2.x. Nothing can be fetched
there, so each missing package travels as a wheel, named below with its version and why (``pip download
--no-deps`` fetches no dependency by itself). After downloading, the script checks that every requirement of
every carried wheel (markers evaluated for Python 3.12 on Linux x86-64) is carried in a matching version or is
on the image, that each package is there in one version only, and that the folder stays under ``--max-mib``
(the device tool carries at most 64 MiB with the checkout). bitsandbytes is slimmed to the libraries the
image's CUDA 13 needs (its wheel holds one library per CUDA and ROCm version, 43 MiB).

The project itself travels as its source: the device tool sends the checkout, and ``benchmarks/gpu_check.py``
puts it first on ``sys.path``. Run this script in the checkout the device tool sends (``.whl/`` must be in its
root, where ``.gitignore`` ignores it), then call the device tool's ``run`` with ``carry: [".whl"]``,
``timeout_s: 360`` and the command::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
        .whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py \\
        --minutes 5 --out $OUT
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]  # fmt: skip
TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux", "platform_system": "Linux",
          "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "", "extra": ""}  # fmt: skip

# (name, version, why). The versions are the ones this project is tested with (pyproject.toml's ranges).
WHEELS = [
    ("trl", "1.16.0", "not on the image; training/trainer.py is written against this minor"),
    ("datasets", "5.2.0", "not on the image"),
    ("huggingface_hub", "2.4.0", "the image has 1.33; this project needs 2.x"),
    ("transformers", "5.24.0", "the image's 5.17 refuses huggingface_hub 2.x when imported (its runtime check "
     "wants <2.0) and lacks activation_checkpointing / train_sampling_strategy, which the recipes set"),
    ("httpx2", "2.16.2", "huggingface_hub 2.x's HTTP client; not on the image"),
    ("httpcore2", "2.16.2", "httpx2's transport, same version; not on the image"),
    ("truststore", "0.10.5", "needed by httpcore2; not on the image"),
    ("dill", "0.4.1", "needed by datasets (<0.4.2); not on the image"),
    ("multiprocess", "0.70.19", "needed by datasets (<0.70.20); not on the image"),
    ("bitsandbytes", "0.50.2", "not on the image (8-bit weights and 8-bit AdamW)"),
    ("peft", "0.21.2", "the version tested here (the image's is not recorded)"),
    ("fsspec", "2026.9.0", "datasets wants <=2026.9.0 and the image's (read 2026-11-17) may be newer"),
    ("click", "8.5.1", "huggingface_hub 2.x wants >=8.4.2; the image's version is not recorded"),
    ("regex", "2026.11.19", "transformers checks regex>=2025.10.22 when imported; the image's is not recorded"),
    ("anyio", "4.16.0", "httpx2 wants >=4.10; the image's is not recorded"),
    ("idna", "3.20", "httpx2 wants >=3.18; the image's is not recorded"),
    ("h11", "0.16.0", "httpcore2 wants >=0.16; the image's is not recorded"),
    ("typing_extensions", "4.16.0", "anyio wants >=4.16 on Python < 3.15; the image's is not recorded"),
    ("pydantic", "2.14.4", "the one config mechanism (core/config.py); not on the image"),
    ("pydantic_core", "2.50.5", "pydantic's compiled core, the version pydantic pins; not on the image"),
    ("annotated_types", "0.8.0", "needed by pydantic; not on the image"),
    ("typing_inspection", "0.4.5", "needed by pydantic; not on the image"),
    ("rapidfuzz", "3.14.6", "the task scorers' edit similarity (generators/tasks/registry.py, imported by every "
     "generator); not on the image"),
]

# The image's Python packages (the device README's KINDS.md, as read on a machine on 2026-11-17): requirements
# met by these are not carried unless WHEELS names them (their versions there are not all recorded).
IMAGE = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite
lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas
nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum
opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn
scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp""".split()

# bitsandbytes loads libbitsandbytes_cuda<torch.version.cuda without the dot>.so (130 for the image's 13.0), or
# the CPU library; the others are for other CUDA / ROCm / XPU builds.
BNB_KEEP = re.compile(r"libbitsandbytes_(cpu|cuda13\d*)\.(so|dll|dylib)$")
BNB_LIB = re.compile(r"libbitsandbytes_[\w.]+\.(so|dll|dylib)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def download(specs: list[str], dest: Path) -> None:
    """``pip download`` the exact wheels for the target (one call; on failure, one per spec to name the culprit)."""
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
            "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), "-q"]  # fmt: skip
    if subprocess.run([*base, *specs]).returncode == 0:
        return
    bad = [s for s in specs if subprocess.run([*base, s], capture_output=True).returncode != 0]
    sys.exit(f"error: pip found no wheel for {', '.join(bad)} (Python 3.12, {PLATFORMS[0]} ... {PLATFORMS[-1]}); "
             "a newer manylinux tag may be needed: add --platform manylinux_2_N_x86_64 for that package")  # fmt: skip


def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """(name, version, Requires-Dist lines) read from a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        text = zf.read(meta).decode("utf-8")
    fields: dict[str, list[str]] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value.strip())
    return fields["Name"][0], fields["Version"][0], fields.get("Requires-Dist", [])


def check_closure(wheels: list[Path], image: list[str] = IMAGE) -> list[str]:
    """Problems with a set of wheels: two versions of one package, or a requirement (for the target, no extras)
    that no carried wheel meets and that the image does not hold."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    carried: dict[str, list[str]] = {}
    reqs: list[tuple[str, str]] = []
    for path in wheels:
        name, version, requires = wheel_metadata(path)
        carried.setdefault(normalize(name), []).append(version)
        reqs += [(name, r) for r in requires]
    problems = [f"{n}: {len(v)} versions ({', '.join(v)}): keep one" for n, v in sorted(carried.items()) if len(v) > 1]
    on_image = {normalize(n) for n in image}
    for owner, line in reqs:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(TARGET):
            continue
        key = normalize(req.name)
        if key in carried:
            bad = [v for v in carried[key] if req.specifier and not req.specifier.contains(Version(v), prereleases=True)]
            problems += [f"{owner} needs {req}, carried {key} {v}" for v in bad]
        elif key not in on_image:
            problems.append(f"{owner} needs {req}: not on the image and not carried")
    return problems


def slim_bitsandbytes(path: Path) -> int:
    """Drop the libraries of other CUDA / ROCm / XPU versions from a bitsandbytes wheel (and their RECORD lines);
    returns the bytes saved. A wheel already slim is left alone."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        drop = {n for n in names if BNB_LIB.search(n) and not BNB_KEEP.search(n)}
        if not drop:
            return 0
        if not any(BNB_KEEP.search(n) and "cuda" in n for n in names):
            raise SystemExit(f"error: {path.name} has no CUDA 13 library: refusing to slim it")
        before = path.stat().st_size
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
            for info in zf.infolist():
                if info.filename in drop:
                    continue
                data = zf.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    kept = [ln for ln in data.decode("utf-8").splitlines() if ln.split(",", 1)[0] not in drop]
                    data = ("\n".join(kept) + "\n").encode("utf-8")
                out.writestr(info, data)
    tmp.replace(path)
    return before - path.stat().st_size


def tree_mib() -> float | None:
    """Size of what the device tool sends besides carried paths: the tracked and untracked, not ignored files."""
    try:
        res = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    files = [ROOT / f for f in res.stdout.decode().split("\0") if f]
    return sum(f.stat().st_size for f in files if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=str(ROOT / ".whl"), help="folder for the wheels (default: .whl in the checkout)")
    ap.add_argument("--max-mib", type=float, default=60.0, help="fail above this total (the device tool carries 64 MiB)")
    ap.add_argument("--no-slim", action="store_true", help="keep bitsandbytes' libraries for every CUDA and ROCm version")
    opts = ap.parse_args(argv)
    dest = Path(opts.dest)
    dest.mkdir(parents=True, exist_ok=True)
    strays = [p.name for p in dest.iterdir() if not p.name.endswith(".whl")]
    if strays:
        sys.exit(f"error: {dest} holds files that are not wheels ({', '.join(strays[:3])}): give an empty or wheels-only folder")
    wanted = {normalize(n): v for n, v, _ in WHEELS}
    with tempfile.TemporaryDirectory(prefix="gpu-wheels-") as tmp:  # outside the checkout: a kill leaves nothing there
        download([f"{n}=={v}" for n, v, _ in WHEELS], Path(tmp))
        for path in Path(tmp).glob("*.whl"):
            if normalize(wheel_metadata(path)[0]) == "bitsandbytes" and not opts.no_slim:
                print(f"slimmed {path.name}: {slim_bitsandbytes(path) / 2**20:.1f} MiB of other CUDA / ROCm builds removed")
        for old in dest.glob("*.whl"):  # replace the folder's wheels: two versions of one package stop the install
            old.unlink()
        for path in Path(tmp).glob("*.whl"):
            shutil.move(str(path), dest / path.name)
    wheels = sorted(dest.glob("*.whl"))
    got = {normalize(wheel_metadata(p)[0]): wheel_metadata(p)[1] for p in wheels}
    missing = [f"{n}=={v}" for n, v in wanted.items() if got.get(n) != v]
    problems = ([f"not downloaded: {', '.join(missing)}"] if missing else []) + check_closure(wheels)
    total = sum(p.stat().st_size for p in wheels) / 2**20
    for p in wheels:
        print(f"{p.stat().st_size / 2**20:7.2f} MiB  {p.name}")
    tree = tree_mib()
    print(f"{total:7.2f} MiB  in {len(wheels)} wheels in {dest}" + (f"; with the checkout ({tree:.1f} MiB) "
          f"{total + tree:.1f} MiB of the 64 MiB the device tool carries" if tree is not None else ""))  # fmt: skip
    if total > opts.max_mib:
        problems.append(f"{total:.1f} MiB is over --max-mib {opts.max_mib:g}")
    if problems:
        sys.exit("error: " + "; ".join(problems))
    print("requirements: every carried wheel's requirements are carried or on the image")
    print("install there (then run the check):")
    print(f"  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
          f"{dest.name}/*.whl && export PYTHONPATH=/tmp/site || exit")  # fmt: skip


if __name__ == "__main__":
    main()
