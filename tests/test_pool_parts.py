"""The parts of an instruction pool, each against its definition: k-center greedy, the Vendi score, the disk-backed
embedding file, the spread of unseen-test rows, canonical cluster ids, the cluster map and its SVG."""

from __future__ import annotations

from xml.etree import ElementTree

import numpy as np
import pytest

from cards.pool_card import map_svg
from generators.real.clusters import by_label, canonical, nearest_centroid
from generators.real.coreset import k_center_greedy
from generators.real.diversity import cluster_map, vendi_score
from generators.real.pool_select import spread
from generators.real.vectors import VectorFile


def test_k_center_greedy_picks_the_farthest_row_each_step():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    order = k_center_greedy(x, 12, first=7)
    picked = [7]
    for _ in range(11):  # the definition, by brute force: argmax over rows of the distance to the nearest pick
        d = np.linalg.norm(x[:, None, :] - x[None, picked, :], axis=2).min(axis=1)
        picked.append(int(np.argmax(d)))
    assert order.tolist() == picked and len(set(picked)) == 12
    assert k_center_greedy(x, 100).size == 60 and k_center_greedy(x, 0).size == 0


def test_k_center_greedy_covers_clusters_before_repeating_one():
    centres = np.eye(4, dtype=np.float32) * 10
    x = np.concatenate([c + np.random.default_rng(i).normal(scale=0.1, size=(20, 4)) for i, c in enumerate(centres)])
    order = k_center_greedy(x.astype(np.float32), 4, first=0)
    assert sorted(i // 20 for i in order) == [0, 1, 2, 3]  # one row of each group


def test_vendi_score_is_the_exponential_entropy_of_the_kernel_eigenvalues():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 8))
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(u @ u.T / 30)  # the n x n kernel of the definition
    lam = lam[lam > 1e-12]
    assert vendi_score(e) == pytest.approx(float(np.exp(-(lam * np.log(lam)).sum())), rel=1e-6)
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)  # five copies of one item
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)  # six orthogonal items


def test_the_vector_file_reads_back_what_was_written(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 7)).astype(np.float32)
    v = VectorFile(tmp_path / "v.f32", 7)
    for start in range(0, 300, 64):
        v.append(data[start : start + 64])
    assert v.shape == (300, 7)
    rows = np.array([299, 0, 5, 5, 150, 64, 63])
    assert np.array_equal(v.take(rows), data[rows])
    assert np.array_equal(np.concatenate([part for _, part in v.chunks(50)]), data)
    assert [s for s, _ in v.chunks(128)] == [0, 128, 256]
    assert np.array_equal(VectorFile.existing(tmp_path / "v.f32", 7).take(rows), data[rows])
    with pytest.raises(IndexError):
        v.take(np.array([300]))
    with pytest.raises(ValueError):
        v.append(np.zeros((2, 6)))


def test_spread_fills_evenly_within_each_cap():
    assert spread(10, np.array([100, 100, 100])).tolist() == [4, 3, 3]
    assert spread(10, np.array([1, 100, 2])).tolist() == [1, 7, 2]
    assert spread(10, np.array([2, 3])).tolist() == [2, 3]  # fewer than asked: the caller says so
    assert spread(0, np.array([5])).tolist() == [0]


def test_cluster_ids_are_numbered_by_first_appearance():
    labels, old = canonical(np.array([7, 7, 2, 9, 2, 7]))
    assert labels.tolist() == [0, 0, 1, 2, 1, 0] and old.tolist() == [7, 2, 9]
    c = by_label(["poem", "sum", "poem", None, "sum"])
    assert c.labels.tolist() == [0, 1, 0, 2, 1] and c.names == ["poem", "sum", ""]


def test_nearest_centroid_is_the_euclidean_nearest():
    rng = np.random.default_rng(2)
    e, c = rng.normal(size=(40, 6)).astype(np.float32), rng.normal(size=(5, 6)).astype(np.float32)
    brute = np.linalg.norm(e[:, None] - c[None], axis=2).argmin(axis=1)
    assert nearest_centroid(e, c).tolist() == brute.tolist()


def test_the_cluster_map_is_the_first_two_principal_components():
    rng = np.random.default_rng(3)
    c = rng.normal(size=(12, 9)) * np.array([5, 3, 1, 1, 1, 1, 1, 1, 1])
    xy = cluster_map(c)
    centred = c - c.mean(axis=0)
    assert np.allclose(np.abs(xy[:, 0]), np.abs(centred @ np.linalg.svd(centred)[2][0]))
    assert xy.var(axis=0)[0] >= xy.var(axis=0)[1]
    # each axis' sign is fixed by its largest loading: mirrored centroids give the mirrored map
    assert np.allclose(cluster_map(-c), -xy)
    again = cluster_map(c.copy())
    assert np.array_equal(xy, again)


def test_the_map_svg_draws_one_circle_per_cluster_coloured_by_role():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, np.nan], [0.5, 2.0]])
    svg = map_svg(xy, np.array([1, 2, 0, 0]), np.array([10, 40, 5, 20]))
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    circles = [c for c in root.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    assert [c.find(f"{ns}title").text.split(":")[0] for c in circles] == ["cluster 3", "cluster 0", "cluster 1"]
    fills = {c.find(f"{ns}title").text.split(":")[0]: c.get("fill") for c in circles}
    assert fills == {"cluster 0": "#1f77b4", "cluster 1": "#d62728", "cluster 3": "#b8b8b8"}
    radius = {c.find(f"{ns}title").text.split(":")[0]: float(c.get("r")) for c in circles}
    assert radius["cluster 1"] > radius["cluster 3"] > radius["cluster 0"]  # area grows with rows
    assert svg == map_svg(xy, np.array([1, 2, 0, 0]), np.array([10, 40, 5, 20]))  # the same bytes again
