"""Real instruction data (as opposed to the synthetic task families of :mod:`generators.tasks`).

Sources (Hub datasets or local files mapped to instruction/response pairs, :mod:`generators.real.sources`),
exact and near duplicate removal (:mod:`generators.real.dedup`), benchmark decontamination
(:mod:`generators.real.decontam`), instruction mixtures with per-source ratios (:mod:`generators.real.mixture`,
configs in :mod:`generators.real.mixture_config`), and instruction pools: I semantic clusters x S rows with whole
clusters held out (:mod:`generators.real.pool`, configs in :mod:`generators.real.pool_config`, the split plan in
:mod:`generators.real.pool_select`, the report in :mod:`generators.real.pool_report`), built from sentence
embeddings (:mod:`generators.real.embed`, streamed to :mod:`generators.real.vectors`), k-means
(:mod:`generators.real.clusters`), core-set selection (:mod:`generators.real.coreset`) and diversity measures
(:mod:`generators.real.diversity`, :mod:`generators.real.semantic`).

Part of the data layer: :mod:`generators.real.embed` is the one module that loads a deep-learning stack
(sentence-transformers, only when a text is embedded); nothing here imports one at import time.
"""
