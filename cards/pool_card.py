"""Dataset cards of instruction pools (``task: pool``), and the 2-D map of their clusters as SVG.

The card records the sources and what filtering removed, how the pool was clustered (method, model, number and
sizes of clusters), which clusters are training and which unseen-test ones, the diversity report of every split
(clusters used, effective clusters, Vendi score, mean pairwise cosine distance, distinct n-grams, examples per
cluster), the recorded assignment with its SHA-256, and the map ``clusters/map.svg`` (embedded in the card).

The map is written here as plain SVG text (no plotting library: the data layers need none): one circle per
cluster at its 2-D coordinates (the first two principal components of the centroids), its area proportional to
the cluster's rows, training clusters blue, unseen-test clusters red, unused ones grey. The text is a pure
function of its inputs, so a re-render gives the same bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml
from huggingface_hub import DatasetCard

from cards.dataset_card import load_section
from cards.mixture_card import card_sources, real_card_data, save_card

TEMPLATE = Path(__file__).parent / "templates" / "pool_card.md"
ROLE_STYLE = ((0, "unused", "#b8b8b8"), (1, "training", "#1f77b4"), (2, "unseen test", "#d62728"))
WIDTH, HEIGHT, MARGIN, LEGEND = 640, 480, 36, 120


def map_svg(xy: np.ndarray, roles: np.ndarray, sizes: np.ndarray) -> str:
    """The SVG text of the cluster map (rows of ``xy`` with NaN are left out)."""
    xy = np.asarray(xy, dtype=np.float64)
    ok = ~np.isnan(xy).any(axis=1)
    lo, hi = (xy[ok].min(axis=0), xy[ok].max(axis=0)) if ok.any() else (np.zeros(2), np.ones(2))
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    plot_w, plot_h = WIDTH - LEGEND - 2 * MARGIN, HEIGHT - 2 * MARGIN
    biggest = float(np.max(sizes)) if len(sizes) else 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{MARGIN}" y="22" font-size="14">Clusters of the pool (first two principal components of the '
           f'centroids)</text>',
           f'<rect x="{MARGIN}" y="{MARGIN}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>']
    order = sorted(range(len(xy)), key=lambda c: (int(roles[c]) != 0, int(roles[c]), c))  # unused drawn first
    for c in order:
        if not ok[c]:
            continue
        x = MARGIN + 6 + (xy[c, 0] - lo[0]) / span[0] * (plot_w - 12)
        y = MARGIN + 6 + (1 - (xy[c, 1] - lo[1]) / span[1]) * (plot_h - 12)
        r = 2.0 + 10.0 * math.sqrt(float(sizes[c]) / biggest)
        colour = ROLE_STYLE[int(roles[c])][2]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" fill-opacity="0.7" '
                   f'stroke="#333" stroke-width="0.5"><title>cluster {c}: {int(sizes[c])} rows, '
                   f'{ROLE_STYLE[int(roles[c])][1]}</title></circle>')
    for i, (role, name, colour) in enumerate(ROLE_STYLE):
        y = MARGIN + 14 + 22 * i
        count = int((np.asarray(roles) == role).sum())
        out.append(f'<circle cx="{WIDTH - LEGEND + 10}" cy="{y}" r="6" fill="{colour}" fill-opacity="0.7" stroke="#333" '
                   f'stroke-width="0.5"/><text x="{WIDTH - LEGEND + 22}" y="{y + 4}">{name} ({count})</text>')
    out.append(f'<text x="{WIDTH - LEGEND + 4}" y="{MARGIN + 90}" font-size="11">area: rows</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_pool_card(meta: dict, *, repo_id: str | None = None, version: str | None = None,
                     license: str | None = None, local: bool = False) -> DatasetCard:
    """Render the card of a pool dataset from its ``datagen.json`` metadata (``repo_id``, ``version``, ``local``:
    where it is published, as for :func:`cards.dataset_card.render_dataset_card`)."""
    rows = sum(s["rows"] for s in meta["splits"].values())
    card_data = real_card_data(meta, rows, ["instruction-pool", "semantic-clusters"], license, version)
    cfg = meta["config"]
    sources = card_sources(meta)
    return DatasetCard.from_template(
        card_data,
        template_str=TEMPLATE.read_text(encoding="utf-8"),
        pretty_name=meta["name"],
        meta=meta,
        cfg=cfg,
        sources=sources,
        clusters=meta["clusters"],
        report=meta["report"],
        extra_files=meta.get("extra_files") or {},
        n_train=cfg["instructions"],
        version=version,
        load_it=load_section(repo_id, version, local),
        example=json.dumps((meta.get("example") or {}).get("train") or {}, indent=2, ensure_ascii=False),
        config_yaml=yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True).rstrip(),
    )


def write_pool_card(folder: str | Path, meta: dict, **kwargs) -> Path:
    """Write README.md (the card) into a pool folder; returns its path."""
    return save_card(render_pool_card, folder, meta, **kwargs)
