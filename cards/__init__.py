"""Card rendering (layer: cards, above core): dataset, mixture and model cards (``huggingface_hub.DatasetCard``
/ ``ModelCard``), the model-index / evaluation-results section, and their templates.

Pure functions of metadata dicts and records: no network, no knowledge of task families (task-specific text
comes from the caller, see :mod:`generators.tasks`), and no knowledge of where cards are published
(:mod:`publishing`). May import :mod:`core` only.
"""
