"""The gym in reasoning-gym's registry: ``reasoning_gym.create_dataset("instruction_diversity", preset=..., ...)``.

reasoning-gym is optional (``pip install -e ".[rl]"``) and importing it takes seconds and loads matplotlib, so
nothing here imports it until :func:`register_reasoning_gym` is called (:mod:`generators.gym` calls it on import
when reasoning-gym is already imported). Registering makes two classes, reachable here by name (so pickles of
them load in a fresh process): :class:`ReasoningGymDataset`, the gym dataset as a reasoning-gym
``ProceduralDataset`` (config: :class:`~generators.gym.dataset.GymConfig`, whose fields are reasoning-gym's
keyword arguments), and :class:`InstructionDiversityCurriculum`, a reasoning-gym curriculum whose one attribute,
``difficulty_share``, widens the share of the easiest rows the items come from, level by level (see
:mod:`generators.curriculum`).
"""

from __future__ import annotations

from typing import Any

from generators.gym.dataset import DATASET_NAME, GymConfig, GymDataset

#: The curriculum's levels: the easiest quarter of the rows, then half, three quarters, all.
SHARE_LEVELS = (0.25, 0.5, 0.75, 1.0)
CLASS_NAMES = ("ReasoningGymDataset", "InstructionDiversityCurriculum")

_classes: dict[str, type] = {}


def register_reasoning_gym(name: str = DATASET_NAME) -> bool:
    """Register the gym with reasoning-gym under ``name`` (once; again is a no-op). False when reasoning-gym is
    not installed."""
    try:
        # deferred: reasoning-gym is an optional extra, and importing it takes seconds and loads matplotlib
        from reasoning_gym.coaching import BaseCurriculum, ScalarAttributeDefinition
        from reasoning_gym.dataset import ProceduralDataset
        from reasoning_gym.factory import DATASETS, register_dataset
    except ImportError:
        return False
    if not _classes:
        class ReasoningGymDataset(GymDataset, ProceduralDataset):
            """A gym dataset (:class:`~generators.gym.dataset.GymDataset`) as a reasoning-gym ProceduralDataset."""

        class InstructionDiversityCurriculum(BaseCurriculum):
            """Items from the easiest 25%, 50%, 75%, then all rows of the split, in the task's difficulty order."""

            def __init__(self) -> None:
                super().__init__(InstructionDiversityCurriculum.__name__, GymConfig)
                self._define_attributes(ScalarAttributeDefinition(
                    name="difficulty_share", field_name="difficulty_share", levels=list(SHARE_LEVELS),
                    description="share of the split's rows, easiest first, that items come from",
                ))

        for cls in (ReasoningGymDataset, InstructionDiversityCurriculum):
            cls.__module__, cls.__qualname__ = __name__, cls.__name__
            _classes[cls.__name__] = cls
    dataset_cls = _classes["ReasoningGymDataset"]
    if name in DATASETS:
        if DATASETS[name][0] is dataset_cls:
            return True
        raise ValueError(f"reasoning-gym already has another dataset called {name!r}")
    register_dataset(name, dataset_cls, GymConfig, _classes["InstructionDiversityCurriculum"])
    return True


def __getattr__(attr: str) -> Any:
    """The registered classes by name (registering first), so that pickles of them load anywhere."""
    if attr in CLASS_NAMES:
        if not register_reasoning_gym():
            raise AttributeError(f"{attr} needs reasoning-gym: pip install -e '.[rl]'")
        return _classes[attr]
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
