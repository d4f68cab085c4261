"""The gym: our task families as procedural datasets for reinforcement learning, with no torch.

- :func:`create_dataset` / :class:`GymDataset` (:mod:`generators.gym.dataset`): reasoning-gym-style items
  ``{question, answer, metadata}``, item i = row i of a split of a generated dataset (deterministic, any
  order), and ``score_answer(answer, entry)``, the task scorer's reward (what ``diveval rewrite`` decides);
- :func:`register_reasoning_gym` (:mod:`generators.gym.registration`): the same datasets in reasoning-gym's
  registry (``reasoning_gym.create_dataset("instruction_diversity", preset=..., split=..., seed=..., size=...)``),
  with a curriculum class; done on import here when reasoning-gym is already imported;
- :class:`GymEnvironment` (:mod:`generators.gym.environment`): an environment for TRL's ``GRPOTrainer``
  (``environment_factory``), rows from :func:`environment_rows`.

The RL reward for our parquet datasets is :class:`generators.reward.TaskReward`; the difficulty order is
:mod:`generators.curriculum`.
"""

import sys

from generators.gym.dataset import DATASET_NAME, GymConfig, GymDataset, create_dataset
from generators.gym.environment import GymEnvironment, environment_factory, environment_rows
from generators.gym.registration import register_reasoning_gym

if "reasoning_gym" in sys.modules:  # already paid for: make our datasets visible to it
    register_reasoning_gym()

__all__ = ["DATASET_NAME", "GymConfig", "GymDataset", "GymEnvironment", "create_dataset", "environment_factory",
           "environment_rows", "register_reasoning_gym"]
