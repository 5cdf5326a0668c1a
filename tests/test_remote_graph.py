"""SpTGNN relation graph: relations as specified, the inductive join, label features."""
import numpy as np
import pytest
from sklearn.neighbors import BallTree, NearestNeighbors

from socspec.remote.graph import (
    GraphNodes,
    GraphSpec,
    build_graph,
    join_graph,
    label_features,
    node_elevation,
)


def _points(n, seed=0):
    rng = np.random.default_rng(seed)
    lat = rng.uniform(45, 50, n)
    lon = rng.uniform(5, 12, n)
    elev = rng.uniform(0, 300, n)
    spectra = rng.uniform(0.05, 0.6, (n, 12))
    return GraphNodes(lat, lon, elev, spectra)


def _knn_sets(lat, lon, k, qlat=None, qlon=None):
    tree = BallTree(np.radians(np.c_[lat, lon]), metric="haversine")
    if qlat is None:
        _, idx = tree.query(np.radians(np.c_[lat, lon]), k=k + 1)
        return [set(r[1:]) for r in idx]
    _, idx = tree.query(np.radians(np.c_[qlat, qlon]), k=k)
    return [set(r) for r in idx]


def _edges(ei):
    return set(zip(ei[0].tolist(), ei[1].tolist()))


def test_relations_built_as_specified():
    nodes = _points(150)
    spec = GraphSpec(k_spatial=6, k_spectral=5, k_elevation_candidates=10, max_elevation_diff_m=40)
    g = build_graph(nodes, spec)
    assert g.relations == ("spatial", "spectral", "elevation") and not g.notes
    assert g.edge_index.shape == (2, g.edge_type.size) == (2, g.distance_km.size)
    # spatial: the union of each node's 6 nearest (BallTree) and its reverse
    knn = _knn_sets(nodes.lat_deg, nodes.lon_deg, 6)
    want = {(j, i) for i, s in enumerate(knn) for j in s}
    want |= {(i, j) for j, i in want}
    assert _edges(g.relation("spatial")) == want
    # spectral: cosine kNN (scikit-learn brute force), symmetrised
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(nodes.spectra)
    idx = nn.kneighbors(nodes.spectra, return_distance=False)
    want = {(j, i) for i, r in enumerate(idx) for j in r[1:]}
    want |= {(i, j) for j, i in want}
    assert _edges(g.relation("spectral")) == want
    # elevation: among the 10 nearest, |Δe| <= 40 m; symmetric
    cand = _knn_sets(nodes.lat_deg, nodes.lon_deg, 10)
    want = {(j, i) for i, s in enumerate(cand) for j in s
            if abs(nodes.elevation_m[i] - nodes.elevation_m[j]) <= 40}
    want |= {(i, j) for j, i in want}
    got = _edges(g.relation("elevation"))
    assert got == want and len(got) > 0
    for name in g.relations:
        e = g.relation(name)
        assert not np.any(e[0] == e[1])  # no self loops
        assert _edges(e) == {(b, a) for a, b in _edges(e)}  # symmetric
    # distances are great-circle lengths
    from socspec.kernels import haversine_km

    s, d = g.edge_index
    np.testing.assert_allclose(g.distance_km, haversine_km(nodes.lat_deg[s], nodes.lon_deg[s],
                                                           nodes.lat_deg[d], nodes.lon_deg[d]))


def test_missing_inputs_drop_relations_with_a_note():
    nodes = _points(40)
    g = build_graph(GraphNodes(nodes.lat_deg, nodes.lon_deg), GraphSpec())
    assert g.relations == ("spatial",)
    assert any("elevation" in n for n in g.notes) and any("spectral" in n for n in g.notes)
    # unknown elevations get no elevation edge; zero spectra no spectral edge
    elev = nodes.elevation_m.copy()
    elev[:5] = np.nan
    spectra = nodes.spectra.copy()
    spectra[5:8] = 0.0
    g = build_graph(GraphNodes(nodes.lat_deg, nodes.lon_deg, elev, spectra),
                    GraphSpec(relations=("elevation", "spectral"), max_elevation_diff_m=1e6))
    assert g.relations == ("elevation", "spectral")
    assert not np.isin(g.relation("elevation"), np.arange(5)).any()
    assert not np.isin(g.relation("spectral"), np.arange(5, 8)).any()
    with pytest.raises(ValueError, match="no relation could be built"):
        build_graph(GraphNodes(nodes.lat_deg, nodes.lon_deg), GraphSpec(relations=("elevation",)))
    with pytest.raises(ValueError, match="subset"):
        GraphSpec(relations=("spatial", "rivers"))


def test_join_only_adds_train_to_query_edges():
    nodes = _points(200, seed=3)
    train, query = nodes.take(np.arange(150)), nodes.take(np.arange(150, 200))
    spec = GraphSpec(k_spatial=5, k_spectral=4, max_elevation_diff_m=60)
    gt = build_graph(train, spec)
    gj = join_graph(gt, train, query, spec)
    assert gj.n_nodes == 200 and gj.relations == gt.relations
    # training-only edges unchanged, first and in order
    np.testing.assert_array_equal(gj.edge_index[:, :gt.n_edges], gt.edge_index)
    np.testing.assert_array_equal(gj.edge_type[:gt.n_edges], gt.edge_type)
    new = gj.edge_index[:, gt.n_edges:]
    assert np.all(new[0] < 150) and np.all(new[1] >= 150)  # train -> query only
    assert not np.any(gj.edge_index[0] >= 150)  # no query -> anything
    # spatial: each query receives from its 5 nearest training points
    knn = _knn_sets(train.lat_deg, train.lon_deg, 5, query.lat_deg, query.lon_deg)
    sp = gj.relation("spatial")
    sp = sp[:, sp[1] >= 150]
    assert _edges(sp) == {(j, 150 + q) for q, s in enumerate(knn) for j in s}
    el = gj.relation("elevation")
    el = el[:, el[1] >= 150]
    assert np.all(np.abs(nodes.elevation_m[el[0]] - nodes.elevation_m[el[1]]) <= 60)
    spc = gj.relation("spectral")
    assert np.bincount(spc[1][spc[1] >= 150] - 150, minlength=50).tolist() == [4] * 50
    # a query's edges do not depend on the other queries
    g1 = join_graph(gt, train, query.take([7]), spec)
    mine = gj.edge_index[:, gt.n_edges:][:, new[1] == 157]
    assert _edges(g1.edge_index[:, gt.n_edges:]) == {(a, 150) for a, _ in _edges(mine)}


def test_label_features_never_show_a_node_its_own_label():
    # four points on a line, 1 km apart (about 0.009 degrees of latitude)
    lat = np.array([0.0, 0.009, 0.018, 0.027])
    g = build_graph(GraphNodes(lat, np.zeros(4)), GraphSpec(relations=("spatial",), k_spatial=1))
    y = np.array([1.0, 2.0, 3.0, 4.0])
    f, present = label_features(g, y, np.ones(4, bool))
    # node 0's only neighbour is 1; node 1 hears 0 and 2 at equal distance
    assert present.all()
    assert f[0, 0] == pytest.approx(2.0) and f[1, 0] == pytest.approx(2.0)
    assert f[3, 0] == pytest.approx(3.0) and f[0, 1] == 1.0
    # hiding node 1's label: node 0 has no visible neighbour, node 2 hears only node 3
    f, present = label_features(g, y, np.array([True, False, True, True]))
    assert not present[0] and np.all(f[0] == 0) and f[2, 0] == pytest.approx(4.0)
    assert f[2, 1] == pytest.approx(0.5)
    # on a random graph, a node's own label never changes its own features
    nodes = _points(80, seed=5)
    g = build_graph(nodes, GraphSpec(k_spatial=6))
    rng = np.random.default_rng(0)
    y = rng.normal(size=80)
    vis = rng.random(80) < 0.7
    base, _ = label_features(g, y, vis)
    for i in range(80):
        y2 = y.copy()
        y2[i] += 100.0
        assert np.array_equal(label_features(g, y2, vis)[0][i], base[i])


def test_node_elevation_from_column_or_dem_chip():
    from socspec.remote import simulate_corpus

    c = simulate_corpus(n=40, seed=0, chip_size=4)
    np.testing.assert_array_equal(node_elevation(c), c.points["elevation_m"].to_numpy())
    c.points = c.points.drop(columns="elevation_m")
    np.testing.assert_allclose(node_elevation(c), c.chips["dem"].reshape(40, -1).mean(1), rtol=1e-6)
    c.chips = None
    assert node_elevation(c) is None
