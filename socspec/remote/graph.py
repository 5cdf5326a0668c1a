"""The SpTGNN's relation graph over sample points, and the inductive join of new points.

Nodes are samples. Three relations (seed 000), each built with :mod:`socspec.kernels`:

* ``spatial`` — haversine kNN (``k_spatial`` nearest points), symmetrised;
* ``spectral`` — cosine kNN (``k_spectral``) in the per-point band spectra
  (``Corpus.band_spectra``) or, when the corpus has none, in the image embeddings; symmetrised;
* ``elevation`` — among each point's ``k_elevation_candidates`` nearest points, those whose
  elevation differs by at most ``max_elevation_diff_m``; symmetrised. Elevation comes from a
  covariate column (``elevation_m``, ``elevation``, ``elev_m``, ``elev``, ``dem``, ``altitude``)
  or, failing that, from the mean of the DEM chip.

A relation whose inputs are missing is dropped, with a note saying why.

Edges use the torch_geometric convention: ``edge_index[0]`` = source j (the neighbour),
``edge_index[1]`` = target i. One :class:`RelationGraph` holds all relations as
``edge_index`` (2, E) int64 and ``edge_type`` (E,) int64 indexing ``relations``; ``distance_km``
(E,) is the great-circle length of every edge (used by the label features).

**Inductive join** (:func:`join_graph`): a graph over ``n_train + n_query`` nodes (training
nodes first) whose training-only edges are the training graph's, unchanged, and where each
query node only *receives* edges from training nodes: its k nearest training points (spatial),
its k most similar training points (spectral), and the training points among its nearest
candidates with a similar elevation (elevation); with ``GraphSpec.drop_ood_edges`` a node
flagged out-of-distribution keeps at most ``ood_spectral_k`` spectral edges (none by default; see
:class:`GraphSpec`). There are no query → training and no
query ↔ query edges, so a query point changes nothing a training node computes, and the
predictions for one query point do not depend on which other points are queried with it.

**Label features** (:func:`label_features`): node i gets the inverse-distance weighted mean of
its spatial in-neighbours' *visible* training labels (never its own: the graph has no self
loops), the share of its spatial neighbours whose label is visible, and the log distance to
them — the input kriging-convolutional networks use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RELATIONS = ("spatial", "spectral", "elevation")
ELEVATION_COLUMNS = ("elevation_m", "elevation", "elev_m", "elev", "dem", "altitude", "alt_m")


@dataclass
class GraphNodes:
    """What the relations are built from, for n points.

    ``lat_deg``, ``lon_deg`` (n,) WGS84 degrees; ``elevation_m`` (n,) or None (NaN = unknown:
    that node gets no elevation edges); ``spectra`` (n, d) band spectra, image embeddings or the
    bridge's latent abundances, or None (a row with NaN or all zeros gets no spectral edges);
    ``ood_flag`` (n,) bool or None: out-of-distribution nodes (:mod:`socspec.remote.bridge`), which
    get no spectral edges when ``GraphSpec.drop_ood_edges`` is set.
    """

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    elevation_m: np.ndarray | None = None
    spectra: np.ndarray | None = None
    ood_flag: np.ndarray | None = None

    def __post_init__(self):
        self.lat_deg = np.asarray(self.lat_deg, dtype=np.float64).ravel()
        self.lon_deg = np.asarray(self.lon_deg, dtype=np.float64).ravel()
        n = self.lat_deg.size
        if self.lon_deg.size != n:
            raise ValueError(f"lat_deg has {n} values, lon_deg {self.lon_deg.size}")
        if self.elevation_m is not None:
            self.elevation_m = np.asarray(self.elevation_m, dtype=np.float64).ravel()
            if self.elevation_m.size != n:
                raise ValueError(f"elevation_m has {self.elevation_m.size} values, expected {n}")
        if self.spectra is not None:
            self.spectra = np.asarray(self.spectra, dtype=np.float64)
            if self.spectra.ndim != 2 or self.spectra.shape[0] != n:
                raise ValueError(f"spectra must have shape ({n}, d), got {self.spectra.shape}")
        if self.ood_flag is not None:
            self.ood_flag = np.asarray(self.ood_flag, dtype=bool).ravel()
            if self.ood_flag.size != n:
                raise ValueError(f"ood_flag has {self.ood_flag.size} values, expected {n}")

    def __len__(self) -> int:
        return self.lat_deg.size

    def take(self, idx) -> GraphNodes:
        idx = np.asarray(idx)
        return GraphNodes(self.lat_deg[idx], self.lon_deg[idx],
                          None if self.elevation_m is None else self.elevation_m[idx],
                          None if self.spectra is None else self.spectra[idx],
                          None if self.ood_flag is None else self.ood_flag[idx])

    def to_arrays(self) -> dict:
        """Plain float arrays (for ``np.savez`` with ``allow_pickle=False``)."""
        out = {"lat_deg": self.lat_deg, "lon_deg": self.lon_deg}
        if self.elevation_m is not None:
            out["elevation_m"] = self.elevation_m
        if self.spectra is not None:
            out["spectra"] = self.spectra
        if self.ood_flag is not None:
            out["ood_flag"] = self.ood_flag
        return out

    @classmethod
    def from_arrays(cls, arrays) -> GraphNodes:
        return cls(arrays["lat_deg"], arrays["lon_deg"], arrays.get("elevation_m"),
                   arrays.get("spectra"), arrays.get("ood_flag"))


@dataclass
class GraphSpec:
    """How the relations are built (all stored in the model artifact's config).

    ``relations`` — subset of ``RELATIONS``; ``k_spatial`` — spatial neighbours per node;
    ``k_spectral`` — spectral neighbours per node; ``k_elevation_candidates`` — spatial
    candidates searched for the elevation relation; ``max_elevation_diff_m`` — the largest
    |Δelevation| (m) of an elevation edge; ``drop_ood_edges`` — nodes whose ``ood_flag`` is set
    lose spectral edges (their spectra are not trusted to say who is similar): with
    ``ood_spectral_k = 0`` all of them (dropped); with m = ``ood_spectral_k`` > 0 (down-weighted) a
    flagged node keeps a spectral pair {f, j} only when j is among f's m most cosine-similar
    spectral partners (both directions of the pair go together; a new point j joining f counts as
    one when it is at least as similar as f's m-th training partner). Why fewer edges is a lower
    weight: the attention's softmax runs over all edges into a node *across* relations
    (:mod:`socspec.remote.attention`), so the spectral relation's share of a flagged node's
    messages shrinks with its number of spectral edges, while its spatial and elevation edges stay.
    """

    relations: tuple = RELATIONS
    k_spatial: int = 8
    k_spectral: int = 8
    k_elevation_candidates: int = 16
    max_elevation_diff_m: float = 50.0
    drop_ood_edges: bool = False
    ood_spectral_k: int = 0

    def __post_init__(self):
        self.relations = tuple(self.relations)
        bad = [r for r in self.relations if r not in RELATIONS]
        if bad or not self.relations:
            raise ValueError(f"relations {list(self.relations)} must be a non-empty subset of "
                             f"{list(RELATIONS)}")
        if len(set(self.relations)) != len(self.relations):
            raise ValueError(f"relations {list(self.relations)} repeat a name")
        for name in ("k_spatial", "k_spectral", "k_elevation_candidates"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if int(self.ood_spectral_k) < 0:
            raise ValueError(f"ood_spectral_k={self.ood_spectral_k} must be >= 0 "
                             "(0: drop flagged nodes' spectral edges)")
        if not np.isfinite(self.max_elevation_diff_m) or self.max_elevation_diff_m < 0:
            raise ValueError(f"max_elevation_diff_m={self.max_elevation_diff_m} must be >= 0")


@dataclass
class RelationGraph:
    """All relations as one typed edge list over ``n_nodes`` nodes.

    ``edge_index`` (2, E) int64 (row 0 source j, row 1 target i), ``edge_type`` (E,) int64 in
    ``range(len(relations))``, ``distance_km`` (E,) great-circle edge length; ``relations`` the
    names of the relations that were built; ``notes`` why any requested relation was dropped.
    """

    edge_index: np.ndarray
    edge_type: np.ndarray
    distance_km: np.ndarray
    relations: tuple
    n_nodes: int
    notes: list = field(default_factory=list)

    def relation(self, name: str) -> np.ndarray:
        """edge_index (2, E_r) of one relation."""
        if name not in self.relations:
            raise KeyError(f"relation {name!r} not in this graph ({', '.join(self.relations)})")
        return self.edge_index[:, self.edge_type == self.relations.index(name)]

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])


# ------------------------------------------------------------------------------ node inputs
def node_elevation(corpus) -> np.ndarray | None:
    """Elevation (m) per point: a covariate column if there is one, else the DEM chip mean."""
    lower = {c.lower(): c for c in corpus.points.columns}
    for name in ELEVATION_COLUMNS:
        if name in lower:
            import pandas as pd

            vals = pd.to_numeric(corpus.points[lower[name]], errors="coerce").to_numpy(np.float64)
            if np.isfinite(vals).any():
                return vals
    if corpus.chips and "dem" in corpus.chips:
        dem = np.asarray(corpus.chips["dem"], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return np.nanmean(dem.reshape(len(dem), -1), axis=1)
    return None


def graph_nodes(corpus, image_embeddings=None) -> GraphNodes:
    """:class:`GraphNodes` of a corpus: band spectra when present, else ``image_embeddings``."""
    spectra = corpus.band_spectra if corpus.band_spectra is not None else image_embeddings
    return GraphNodes(corpus.lat, corpus.lon, node_elevation(corpus), spectra)


def _valid_spectra(x):
    if x is None:
        return None
    ok = np.isfinite(x).all(axis=1) & (np.linalg.norm(np.nan_to_num(x), axis=1) > 0)
    return ok


def _flagged(nodes: GraphNodes, spec: GraphSpec) -> np.ndarray:
    """(n,) bool: nodes whose spectral edges are dropped or thinned (flagged OOD, ``drop_ood_edges``)."""
    if not spec.drop_ood_edges or nodes.ood_flag is None:
        return np.zeros(len(nodes), dtype=bool)
    return nodes.ood_flag


def _dropped(nodes: GraphNodes, spec: GraphSpec) -> np.ndarray:
    """(n,) bool: nodes left out of the spectral relation altogether (flagged, ``ood_spectral_k = 0``)."""
    return _flagged(nodes, spec) if int(spec.ood_spectral_k) == 0 else np.zeros(len(nodes), dtype=bool)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (E, d) arrays."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-300)


def _partner_rank(src: np.ndarray, dst: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """(E,) rank (0 = most similar) of each edge among the edges into its ``dst``."""
    order = np.lexsort((-sim, dst))
    rank = np.empty(src.size, dtype=np.int64)
    d = dst[order]
    first = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, d.size]))
    rank[order] = np.arange(d.size) - starts
    return rank


def _thin_flagged(ei: np.ndarray, spectra: np.ndarray, flagged: np.ndarray, m: int) -> np.ndarray:
    """Keep a symmetric spectral pair {i, j} only if, for each flagged end, the other end ranks
    among its ``m`` most similar partners."""
    src, dst = ei
    if src.size == 0 or not flagged.any():
        return ei
    rank = _partner_rank(src, dst, _cosine(spectra[src], spectra[dst]))  # rank of src among dst's partners
    n = flagged.size
    keys = dst * n + src
    order = np.argsort(keys)
    pos = np.minimum(np.searchsorted(keys[order], src * n + dst), keys.size - 1)
    rev = order[pos]  # the edge dst → src (the relation is symmetric)
    rev_rank = np.where(keys[rev] == src * n + dst, rank[rev], m)  # no reverse edge: not a top-m partner
    keep = (~flagged[dst] | (rank < m)) & (~flagged[src] | (rev_rank < m))
    return ei[:, keep]


def _partner_floor(train_graph: RelationGraph, spectra: np.ndarray, flagged: np.ndarray, m: int) -> np.ndarray:
    """(n_train,) cosine similarity of each flagged training node's m-th most similar spectral partner
    (−inf for unflagged nodes and for flagged ones with fewer than m partners)."""
    floor = np.full(flagged.size, -np.inf)
    if "spectral" not in train_graph.relations:
        return floor
    src, dst = train_graph.relation("spectral")
    sel = flagged[dst]
    src, dst = src[sel], dst[sel]
    if src.size:
        sim = _cosine(spectra[src], spectra[dst])
        at_m = _partner_rank(src, dst, sim) == m - 1
        floor[dst[at_m]] = sim[at_m]
    return floor


# ------------------------------------------------------------------------------ building
def _pairs_distance(lat, lon, src, dst):
    from ..kernels import haversine_km

    if src.size == 0:
        return np.zeros(0)
    return haversine_km(lat[src], lon[src], lat[dst], lon[dst])


def build_graph(nodes: GraphNodes, spec: GraphSpec | None = None) -> RelationGraph:
    """The relations of ``spec`` over ``nodes`` (see the module docstring).

    Each relation is symmetric (j→i present iff i→j) and has no self loops. A relation that
    cannot be built (no elevation, no spectra, too few points) is left out with a note.
    """
    from ..kernels import elevation_edges, spatial_edges, spectral_edges

    spec = spec or GraphSpec()
    n = len(nodes)
    if n < 2:
        raise ValueError(f"a graph needs at least 2 nodes, got {n}")
    lat, lon = nodes.lat_deg, nodes.lon_deg
    parts, names, notes = [], [], []
    for rel in spec.relations:
        if rel == "spatial":
            ei, _ = spatial_edges(lat, lon, k=min(spec.k_spatial, n - 1), symmetric=True)
        elif rel == "elevation":
            if nodes.elevation_m is None:
                notes.append("elevation relation dropped: no elevation column and no DEM chips")
                continue
            known = np.flatnonzero(np.isfinite(nodes.elevation_m))
            if known.size < 3:
                notes.append("elevation relation dropped: fewer than 3 points with an elevation")
                continue
            ei, _ = elevation_edges(lat[known], lon[known], nodes.elevation_m[known],
                                    k_spatial=min(spec.k_elevation_candidates, known.size - 1),
                                    max_diff_m=spec.max_elevation_diff_m, symmetric=True)
            ei = known[ei]
        else:  # spectral
            ok = _valid_spectra(nodes.spectra)
            if ok is None:
                notes.append("spectral relation dropped: no band spectra and no image embeddings")
                continue
            ok = ok & ~_dropped(nodes, spec)
            good = np.flatnonzero(ok)
            if good.size < 3:
                notes.append("spectral relation dropped: fewer than 3 points with a spectrum")
                continue
            ei, _ = spectral_edges(nodes.spectra[good], k=min(spec.k_spectral, good.size - 1),
                                   metric="cosine", symmetric=True)
            ei = good[ei]
            if int(spec.ood_spectral_k) > 0:
                ei = _thin_flagged(ei, nodes.spectra, _flagged(nodes, spec), int(spec.ood_spectral_k))
        parts.append(ei)
        names.append(rel)
    if not parts:
        raise ValueError("no relation could be built: " + "; ".join(notes))
    edge_index = np.concatenate(parts, axis=1).astype(np.int64)
    edge_type = np.concatenate([np.full(p.shape[1], t, dtype=np.int64) for t, p in enumerate(parts)])
    dist = _pairs_distance(lat, lon, edge_index[0], edge_index[1])
    return RelationGraph(edge_index, edge_type, dist, tuple(names), n, notes)


def _query_spectral_knn(train, query, k):
    """Top-k cosine similarity of each query row among the training rows: (m, k) indices.

    One blocked matrix product per chunk of queries plus argpartition (the kernel's
    ``spectral_knn`` only searches a set against itself)."""
    t = train / np.linalg.norm(train, axis=1, keepdims=True)
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    out = np.empty((q.shape[0], k), dtype=np.int64)
    step = max(1, int(2**24 // max(t.shape[0], 1)))
    for r0 in range(0, q.shape[0], step):
        sims = q[r0:r0 + step] @ t.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable")
        out[r0:r0 + step] = np.take_along_axis(part, order, 1)
    return out


def join_graph(train_graph: RelationGraph, train_nodes: GraphNodes, query_nodes: GraphNodes,
               spec: GraphSpec | None = None) -> RelationGraph:
    """Graph over ``n_train + n_query`` nodes (training first, queries at ``n_train + q``).

    Training → training edges are ``train_graph``'s, unchanged; every other edge runs from a
    training node to a query node (see the module docstring). Only the relations of
    ``train_graph`` are joined, in its order, so ``edge_type`` means the same in both graphs.
    """
    from ..kernels import haversine_knn

    spec = spec or GraphSpec()
    nt, nq = len(train_nodes), len(query_nodes)
    if train_graph.n_nodes != nt:
        raise ValueError(f"train_graph has {train_graph.n_nodes} nodes, train_nodes {nt}")
    parts, types = [train_graph.edge_index], [train_graph.edge_type]
    if nq:
        for t, rel in enumerate(train_graph.relations):
            src = dst = np.zeros(0, dtype=np.int64)
            if rel == "spatial":
                k = min(spec.k_spatial, nt)
                idx, _ = haversine_knn(train_nodes.lat_deg, train_nodes.lon_deg, k,
                                       query_nodes.lat_deg, query_nodes.lon_deg)
                src, dst = idx.ravel(), np.repeat(np.arange(nq), k)
            elif rel == "elevation":
                te, qe = train_nodes.elevation_m, query_nodes.elevation_m
                if te is not None and qe is not None:
                    known = np.flatnonzero(np.isfinite(te))
                    k = min(spec.k_elevation_candidates, known.size)
                    if k:
                        idx, _ = haversine_knn(train_nodes.lat_deg[known], train_nodes.lon_deg[known],
                                               k, query_nodes.lat_deg, query_nodes.lon_deg)
                        with np.errstate(invalid="ignore"):
                            ok = np.abs(te[known][idx] - qe[:, None]) <= spec.max_elevation_diff_m
                        src = known[idx[ok]]
                        dst = np.broadcast_to(np.arange(nq)[:, None], idx.shape)[ok]
            else:  # spectral
                ts, qs = train_nodes.spectra, query_nodes.spectra
                if ts is not None and qs is not None and qs.shape[1] == ts.shape[1]:
                    tok = np.flatnonzero(_valid_spectra(ts) & ~_dropped(train_nodes, spec))
                    qok = np.flatnonzero(_valid_spectra(qs) & ~_dropped(query_nodes, spec))
                    k = min(spec.k_spectral, tok.size)
                    if k and qok.size:
                        idx = _query_spectral_knn(ts[tok], qs[qok], k)
                        src, dst = tok[idx.ravel()], np.repeat(qok, k)
                        m = int(spec.ood_spectral_k)
                        if m > 0 and spec.drop_ood_edges:  # flagged ends keep only their m most similar
                            qf, tf = _flagged(query_nodes, spec), _flagged(train_nodes, spec)
                            rank = np.tile(np.arange(k), qok.size)  # idx columns run most similar first
                            floor = _partner_floor(train_graph, ts, tf, m)
                            sim = _cosine(ts[src], qs[dst])
                            keep = (~qf[dst] | (rank < m)) & (~tf[src] | (sim >= floor[src]))
                            src, dst = src[keep], dst[keep]
            parts.append(np.stack([src, dst + nt]).astype(np.int64))
            types.append(np.full(src.size, t, dtype=np.int64))
    edge_index = np.concatenate(parts, axis=1)
    edge_type = np.concatenate(types)
    lat = np.concatenate([train_nodes.lat_deg, query_nodes.lat_deg])
    lon = np.concatenate([train_nodes.lon_deg, query_nodes.lon_deg])
    new = edge_index[:, train_graph.n_edges:]
    dist = np.concatenate([train_graph.distance_km, _pairs_distance(lat, lon, new[0], new[1])])
    return RelationGraph(edge_index, edge_type, dist, train_graph.relations, nt + nq,
                         list(train_graph.notes))


def subgraph(graph: RelationGraph, nodes) -> RelationGraph:
    """The graph restricted to ``nodes`` (int index, renumbered in that order)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    new = np.full(graph.n_nodes, -1, dtype=np.int64)
    new[nodes] = np.arange(nodes.size)
    s, d = new[graph.edge_index[0]], new[graph.edge_index[1]]
    ok = (s >= 0) & (d >= 0)
    return RelationGraph(np.stack([s[ok], d[ok]]), graph.edge_type[ok], graph.distance_km[ok],
                         graph.relations, int(nodes.size), list(graph.notes))


# ------------------------------------------------------------------------------ label features
N_LABEL_FEATURES = 3


def label_features(graph: RelationGraph, labels_std, visible) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours' training labels as node inputs: ``(features (n, 3), present (n,) bool)``.

    Over the spatial edges j → i whose source j is ``visible`` (a training node whose label may
    be shown), with weights w_ij = 1 / (1 + d_ij / 1 km):

    * f_0 = Σ_j w_ij y_j / Σ_j w_ij (y standardised),
    * f_1 = (number of visible spatial neighbours) / (number of spatial neighbours),
    * f_2 = log(1 + mean_j d_ij / 1 km) / 5.

    ``labels_std`` (n,) standardised labels (NaN where unknown; ignored where not visible),
    ``visible`` (n,) bool. A node with no visible neighbour gets zeros and ``present`` False.
    The spatial relation has no self loops, so a node never sees its own label here; a test
    asserts it.
    """
    y = np.asarray(labels_std, dtype=np.float64).ravel()
    vis = np.asarray(visible, dtype=bool).ravel()
    n = graph.n_nodes
    if y.size != n or vis.size != n:
        raise ValueError(f"labels_std ({y.size}) and visible ({vis.size}) must have {n} values")
    if "spatial" not in graph.relations:
        raise ValueError("label features need the spatial relation in the graph")
    if np.any(vis & ~np.isfinite(y)):
        raise ValueError("a visible node has no finite label")
    sel = graph.edge_type == graph.relations.index("spatial")
    src, dst, d = graph.edge_index[0, sel], graph.edge_index[1, sel], graph.distance_km[sel]
    deg = np.bincount(dst, minlength=n).astype(np.float64)
    v = vis[src]
    src, dst, d = src[v], dst[v], d[v]
    w = 1.0 / (1.0 + d)
    wsum = np.bincount(dst, weights=w, minlength=n)
    ysum = np.bincount(dst, weights=w * y[src], minlength=n)
    cnt = np.bincount(dst, minlength=n).astype(np.float64)
    dsum = np.bincount(dst, weights=d, minlength=n)
    present = cnt > 0
    feats = np.zeros((n, N_LABEL_FEATURES))
    feats[present, 0] = ysum[present] / wsum[present]
    feats[present, 1] = cnt[present] / np.maximum(deg[present], 1.0)
    feats[present, 2] = np.log1p(dsum[present] / cnt[present]) / 5.0
    return feats, present
