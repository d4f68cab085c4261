"""Where artefacts live and go (layer: publishing, above generators): the embedded local hub, the Hub target
(``HfApi``, every call bounded in time and retried, every command within a deadline; downloads capped at the
listed sizes), the resolver of folders / local hub names / Hub ids, loading
their splits, pushing scores into model cards, and the ``datagen`` console script (:mod:`publishing.cli`: the
data-layer commands of :mod:`generators.cli` plus push, pull, verify and list).

May import :mod:`core`, :mod:`cards` and :mod:`generators`.
"""
