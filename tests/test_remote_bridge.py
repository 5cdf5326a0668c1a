"""The bridge: the lab autoencoder on Sentinel-2 bands (socspec.remote.bridge)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from socspec.endmembers import EndmemberLibrary
from socspec.preprocess import resample_to_sensor, sensor_bands
from socspec.remote.bridge import SensorBandAutoencoder, sensor_endmembers
from socspec.spectra import SpectralTable

KNOWN = ["quartz", "kaolinite", "illite", "calcite"]


@pytest.fixture(scope="module")
def library():
    return EndmemberLibrary.synthetic()


def _physics_net(lib):
    ae = SensorBandAutoencoder(decoder="physics", endmembers=lib, cover=False, water=False, photometric=False)
    ae.build_network()
    return ae


def test_one_endmember_decodes_to_its_band_convolved_spectrum(library):
    """m̂ = one-hot on mineral k → R̂ = f_k convolved with the S2 band responses (the resampler
    applied to the 1 nm spectrum as a table, an independent path through resample_to_sensor)."""
    ae = _physics_net(library)
    k = len(ae.latent_names_)
    table = SpectralTable(library.wavelength_nm, library.spectra, "reflectance")
    expected = resample_to_sensor(table, "sentinel2").values
    for i, name in enumerate(library.names):
        m = torch.zeros(1, k)
        m[0, ae.latent_names_.index(name)] = 1.0
        with torch.no_grad():
            r = ae.net_.decoder(m).numpy()[0]
        np.testing.assert_allclose(r, expected[i], rtol=1e-5, atol=1e-6, err_msg=name)


def test_decoder_reproduces_an_exact_mixture(library):
    """Linear mixing commutes with band convolution: decoding area fractions a gives the band
    convolution of the mixed 1 nm spectrum Σ a_k f_k(λ)."""
    ae = _physics_net(library)
    rng = np.random.default_rng(3)
    a = rng.dirichlet(np.ones(len(library)), 5)
    mixed = SpectralTable(library.wavelength_nm, a @ library.spectra, "reflectance")
    expected = resample_to_sensor(mixed, "sentinel2").values
    m = np.zeros((5, len(ae.latent_names_)), np.float32)
    m[:, [ae.latent_names_.index(n) for n in library.names]] = a
    with torch.no_grad():
        r = ae.net_.decoder(torch.as_tensor(m)).numpy()
    np.testing.assert_allclose(r, expected, rtol=1e-5, atol=1e-6)


def test_cover_endmembers_from_earthlib_look_like_vegetation_and_residue():
    pytest.importorskip("earthlib", reason="earthlib (remote extra) not installed")
    em = sensor_endmembers("synthetic", cover=True)
    _, _, bands = sensor_bands("sentinel2")
    veg = em.spectra[em.names.index("green_vegetation")]
    npv = em.spectra[em.names.index("npv")]
    b4, b8 = bands.index("B4"), bands.index("B8")
    assert veg[b8] > 3 * veg[b4]  # red edge: NDVI of a green canopy > 0.5
    assert npv[b8] < 2 * npv[b4]  # dry residue: no red edge
    assert em.names[:16] == EndmemberLibrary.synthetic().names


def _mixtures(lib, n, rng, shift=False):
    s2 = lib.to_sensor("sentinel2")
    a = rng.dirichlet(np.ones(len(KNOWN)), n)
    x = a @ s2.subset(KNOWN).spectra
    if shift:  # a planted mineral the decoder's library does not hold
        w = rng.uniform(0.4, 0.7, n)[:, None]
        x = (1 - w) * x + w * s2.subset(["hematite"]).spectra
    return x * rng.uniform(0.8, 1.0, (n, 1)) + rng.normal(0, 0.003, x.shape)


@pytest.fixture(scope="module")
def fitted(library):
    rng = np.random.default_rng(0)
    train = _mixtures(library, 500, rng)
    ae = SensorBandAutoencoder(decoder="ann", endmembers=library.subset(KNOWN), cover=False, hidden=32,
                               epochs=150, patience=None, seed=0).fit(train)
    return ae, _mixtures(library, 400, rng), _mixtures(library, 200, rng, shift=True)


def test_ood_flag_catches_a_planted_shift_and_keeps_false_alarms_near_alpha(fitted):
    ae, fresh, shifted = fitted
    assert ae.ood_calibration_["reached"] and ae.ood_calibration_["n_calibration"] == 100
    # threshold is the split-conformal quantile of the held-in scores (socspec.ood)
    from socspec.ood import conformal_threshold
    assert ae.ood_threshold_ == conformal_threshold(ae.val_scores_, 0.05)
    assert ae.flag(shifted).mean() >= 0.9
    assert ae.flag(fresh).mean() <= 0.12  # α = 0.05; binomial + calibration noise at n = 400/100
    frame = ae.score_frame(np.vstack([fresh[:3], np.full((1, 12), np.nan)]))
    assert list(frame.columns) == ["ood_score", "ood_threshold", "ood_flag", "reconstruction_error"]
    assert np.isnan(frame["ood_score"].iloc[3]) and not frame["ood_flag"].iloc[3]
    np.testing.assert_allclose(frame["reconstruction_error"].iloc[:3], ae.reconstruction_error(fresh[:3]), rtol=1e-12)
    np.testing.assert_allclose(frame["ood_score"].iloc[:3], ae.ood_score(fresh[:3]), rtol=1e-12)


def test_ood_score_is_knn_under_the_training_mahalanobis_metric(fitted, library):
    """Known answer: the score is the mean distance to the k nearest training pixels under the
    Mahalanobis metric of u = [log R, log e] with covariance Σ + λ₆·I (the floor; scipy's cdist,
    an independent path to the whitening)."""
    from scipy.spatial.distance import cdist

    ae, fresh, shifted = fitted
    rng = np.random.default_rng(0)
    train = _mixtures(library, 500, rng)  # the fixture's training spectra (same seed, same draws)
    held = np.zeros(len(train), bool)
    held[ae.val_index_] = True
    u = lambda x: np.log(np.column_stack([x, ae.reconstruction_error(x)]))  # noqa: E731
    ref = u(train[~held])
    cov = np.cov(ref, rowvar=False)
    tau = np.sort(np.linalg.eigvalsh(cov))[::-1][ae.novelty_floor - 1]  # the whitening floor: λ₆
    assert ae.novelty_floor == 6
    vi = np.linalg.inv(cov + tau * np.eye(len(cov)))
    q = np.vstack([fresh[:20], shifted[:20]])
    d = np.sort(cdist(u(q), ref, metric="mahalanobis", VI=vi), axis=1)[:, :ae.novelty_k].mean(axis=1)
    np.testing.assert_allclose(ae.ood_score(q), d, rtol=1e-5)  # the network reads float32 reflectance
    # the calibration spectra are not in the kNN reference: their scores are not zero distances
    assert ae.val_index_.size == 100 and np.all(ae.val_scores_ > 0)


def test_knn_term_flags_a_new_mixture_of_the_library_minerals(library):
    """A region with other proportions of the same library minerals is flagged by the kNN score at
    the split-conformal threshold (socspec.ood), with false alarms near α; novelty="none" is the
    reconstruction error alone. (Whether the reconstruction error misses such a region depends on
    how the encoder extrapolates: here it does not miss it; on the simulated volcanic region of
    benchmarks/bench_bridge.py it does, and the kNN term is what flags it.)"""
    from socspec.ood import conformal_threshold

    s2 = library.to_sensor("sentinel2").subset(KNOWN).spectra
    rng = np.random.default_rng(1)

    def pixels(conc, n):
        x = rng.dirichlet(conc, n) @ s2
        return x * rng.uniform(0.8, 1.0, (n, 1)) + rng.normal(0, 0.002, x.shape)

    train, fresh = pixels([8, 8, 1, 1], 400), pixels([8, 8, 1, 1], 300)
    other = pixels([1, 1, 8, 8], 300)  # quartz–kaolinite soils in training; illite–calcite here
    kw = dict(decoder="physics", endmembers=library.subset(KNOWN), cover=False, water=False, hidden=16,
              epochs=150, patience=None, seed=0)
    knn = SensorBandAutoencoder(**kw).fit(train)
    rec = SensorBandAutoencoder(novelty="none", **kw).fit(train)
    assert knn.ood_threshold_ == conformal_threshold(knn.val_scores_, 0.05)
    assert rec.ood_threshold_ == conformal_threshold(rec.val_scores_, 0.05)
    assert np.array_equal(rec.ood_score(other), rec.reconstruction_error(other))
    assert knn.flag(other).mean() >= 0.9 and knn.flag(fresh).mean() <= 0.12
    assert rec.flag(fresh).mean() <= 0.12


def test_combined_novelty_is_the_sum_of_two_knn_parts_over_their_leave_one_out_quantiles(library, tmp_path):
    """Known answer by an independent path (scipy's cdist): part 1 = mean distance to the k nearest
    training pixels under the Mahalanobis metric of u = [log R, log e]; part 2 = the same under the
    standardised Euclidean metric of log R; each over its 95 % quantile across the training pixels
    with a pixel not its own neighbour; score = sum. Round-trips through save/load."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    train = _mixtures(library, 300, rng)
    q = np.vstack([_mixtures(library, 20, rng), _mixtures(library, 20, rng, shift=True)])
    ae = SensorBandAutoencoder(decoder="ann", endmembers=library.subset(KNOWN), cover=False, hidden=16,
                               epochs=20, patience=None, seed=0, novelty="combined", novelty_k=5,
                               novelty_floor=None).fit(train)
    held = np.zeros(len(train), bool)
    held[ae.val_index_] = True
    ref = train[~held]
    u = lambda x: np.log(np.column_stack([x, ae.reconstruction_error(x)]))  # noqa: E731
    metrics = [dict(metric="mahalanobis", VI=np.linalg.inv(np.cov(u(ref), rowvar=False))),
               dict(metric="seuclidean", V=np.log(ref).var(axis=0))]
    feats = [u, lambda x: np.log(x)]

    def knn(dist, k=5):
        return np.sort(dist, axis=1)[:, :k].mean(axis=1)

    expected = np.zeros(len(q))
    for f, kw in zip(feats, metrics):
        self_d = cdist(f(ref), f(ref), **kw)
        np.fill_diagonal(self_d, np.inf)  # leave one out
        expected += knn(cdist(f(q), f(ref), **kw)) / np.quantile(knn(self_d), 0.95)
    np.testing.assert_allclose(ae.ood_score(q), expected, rtol=1e-4)
    ae.save(tmp_path / "combined")
    back = SensorBandAutoencoder.load(tmp_path / "combined")
    assert back.novelty == "combined" and np.array_equal(back.ood_score(q), ae.ood_score(q))
    assert "standardised log bands" in back.score_description


def test_calibration_pixels_are_disjoint_from_early_stopping_and_training(fitted):
    """The epoch is chosen on stop_index_ pixels, the threshold on val_index_ pixels: never the same
    ones (the chosen epoch would favour them and the false-alarm rate would creep above α)."""
    ae, _, _ = fitted
    assert ae.val_index_.size == 100 and ae.stop_index_.size == 50
    assert not set(ae.val_index_) & set(ae.stop_index_)
    assert ae.n_train_ == 400 and len(ae.shift_reference_) == 400 and len(ae.shift_calibration_) == 100


def test_shift_frame_is_the_out_of_bag_forest_of_training_vs_query(fitted, tmp_path):
    """Reference implementation: scikit-learn's forest on [u, (u − ū)·V(Λ + λ₆)^−½] told training (0)
    vs calibration + query (1); score = out-of-bag probability of 1; threshold = the split-conformal
    quantile of the calibration pixels' scores. A planted mineral in half the query is flagged, the
    rest is not; a missing band gives NaN and no flag; a saved model gives the same frame."""
    from sklearn.ensemble import RandomForestClassifier

    from socspec.ood import conformal_calibration

    ae, fresh, shifted = fitted
    q = np.vstack([fresh[:200], shifted[:200]])
    frame = ae.shift_frame(np.vstack([q, np.full((1, 12), np.nan)]))
    assert np.isnan(frame["shift_score"].iloc[-1]) and not frame["shift_flag"].iloc[-1]
    flag = frame["shift_flag"].to_numpy()[:-1]
    assert flag[200:].mean() >= 0.9 and flag[:200].mean() <= 0.12
    ref, cal = ae.shift_reference_, ae.shift_calibration_
    q32 = q.astype(np.float32).astype(np.float64)  # the network reads float32 reflectance
    uq = np.log(np.column_stack([q32, ae.reconstruction_error(q)]))
    lam, vec = np.linalg.eigh(np.cov(ref, rowvar=False))
    w = vec / np.sqrt(lam + np.sort(lam)[::-1][5])
    u = np.vstack([ref, cal, uq])
    y = np.r_[np.zeros(len(ref)), np.ones(len(cal) + len(uq))]
    forest = RandomForestClassifier(300, min_samples_leaf=20, oob_score=True, random_state=ae.seed, n_jobs=1)
    p = forest.fit(np.column_stack([u, (u - ref.mean(axis=0)) @ w]), y).oob_decision_function_[:, 1]
    np.testing.assert_allclose(frame["shift_score"].to_numpy()[:-1], p[len(ref) + len(cal):], atol=1e-6)
    thr = conformal_calibration(p[len(ref):len(ref) + len(cal)], 0.05)["threshold"]
    assert frame["shift_threshold"].iloc[0] == pytest.approx(thr)
    assert frame.attrs["calibration"]["n_calibration"] == 100
    ae.save(tmp_path / "m")
    back = SensorBandAutoencoder.load(tmp_path / "m")
    np.testing.assert_array_equal(back.shift_frame(q)["shift_score"], ae.shift_frame(q)["shift_score"])
    from socspec.errors import SocspecInputError
    back.shift_reference_ = None  # as loaded from a folder saved before shift scores
    with pytest.raises(SocspecInputError, match="refit"):
        back.shift_frame(q)


def test_latent_rows_are_fractions(fitted):
    ae, fresh, _ = fitted
    z = ae.latent(fresh[:10])
    assert z.shape == (10, len(KNOWN) + 1)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)


def test_save_load_round_trips_bit_for_bit(fitted, tmp_path):
    ae, fresh, shifted = fitted
    x = np.vstack([fresh, shifted])
    ae.save(tmp_path / "bridge")
    back = SensorBandAutoencoder.load(tmp_path / "bridge")
    assert np.array_equal(back.latent(x), ae.latent(x))
    assert np.array_equal(back.reconstruction_error(x), ae.reconstruction_error(x))
    assert np.array_equal(back.ood_score(x), ae.ood_score(x)) and back.novelty == "knn"
    assert back.ood_threshold_ == ae.ood_threshold_ and back.latent_names_ == ae.latent_names_
    (tmp_path / "bridge" / "weights.pt").write_bytes(b"not torch")
    from socspec.runs import ModelFolderError
    with pytest.raises(ModelFolderError):
        SensorBandAutoencoder.load(tmp_path / "bridge")


def test_bad_band_count_is_a_clear_input_error(fitted):
    from socspec.errors import SocspecInputError
    with pytest.raises(SocspecInputError, match=r"shape \(n, 12\)"):
        fitted[0].latent(np.ones((3, 10)))


# ------------------------------------------------------------------ into the graph (SpTGNN)
@pytest.fixture(scope="module")
def sim():
    from socspec.remote import simulate_corpus
    return simulate_corpus(n=160, seed=2, chip_size=4)


@pytest.fixture(scope="module")
def sim_bridge(sim):
    return SensorBandAutoencoder(endmembers="synthetic", cover=False, hidden=16, epochs=30).fit(sim.band_spectra)


def _pairs(edge_index):
    return set(map(tuple, edge_index.T.tolist()))


def test_latent_spectral_edges_are_knn_in_latent_space(sim, sim_bridge):
    from sklearn.neighbors import NearestNeighbors

    from socspec.remote.graph import GraphSpec, build_graph
    from socspec.remote.sptgnn import SpTGNNRegressor

    model = SpTGNNRegressor(spectral_edges="latent")
    model.spectra_source_, model.bridge_ = "band_spectra", sim_bridge
    nodes = model._graph_nodes(sim, {})
    z = sim_bridge.latent(sim.band_spectra)
    assert np.array_equal(nodes.spectra, z)
    assert np.array_equal(nodes.ood_flag, sim_bridge.flag(sim.band_spectra))
    k = 5
    g = build_graph(nodes, GraphSpec(relations=("spectral",), k_spectral=k))
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(z)
    idx = nn.kneighbors(z, return_distance=False)
    want = set()
    for i, row in enumerate(idx):
        for j in [j for j in row if j != i][:k]:
            want |= {(int(j), i), (i, int(j))}  # symmetrised, source j → target i
    assert _pairs(g.relation("spectral")) == want
    # raw-band edges differ from latent ones
    from socspec.remote.graph import GraphNodes
    raw = build_graph(GraphNodes(sim.lat, sim.lon, None, sim.band_spectra),
                      GraphSpec(relations=("spectral",), k_spectral=k))
    assert _pairs(raw.relation("spectral")) != want


def test_drop_ood_edges_removes_flagged_nodes_spectral_edges_only(sim):
    from socspec.remote.graph import GraphNodes, GraphSpec, build_graph, join_graph

    rng = np.random.default_rng(0)
    flag = np.zeros(len(sim), bool)
    flag[rng.choice(len(sim), 20, replace=False)] = True
    nodes = GraphNodes(sim.lat, sim.lon, None, sim.band_spectra, flag)
    keep = build_graph(nodes, GraphSpec(relations=("spatial", "spectral")))
    drop = build_graph(nodes, GraphSpec(relations=("spatial", "spectral"), drop_ood_edges=True))
    bad = np.flatnonzero(flag)
    assert np.isin(keep.relation("spectral"), bad).any()
    assert not np.isin(drop.relation("spectral"), bad).any()
    assert _pairs(drop.relation("spatial")) == _pairs(keep.relation("spatial"))
    # the unflagged nodes' spectral kNN is the kNN among unflagged nodes only
    sub = build_graph(nodes.take(np.flatnonzero(~flag)), GraphSpec(relations=("spectral",)))
    assert _pairs(np.flatnonzero(~flag)[sub.relation("spectral")]) == _pairs(drop.relation("spectral"))
    # inductive join: flagged training nodes send and flagged query nodes receive no spectral edge
    train, query = nodes.take(np.arange(120)), nodes.take(np.arange(120, 160))
    spec = GraphSpec(relations=("spatial", "spectral"), drop_ood_edges=True)
    g_train = build_graph(train, spec)
    j = join_graph(g_train, train, query, spec)
    new, new_types = j.edge_index[:, g_train.n_edges:], j.edge_type[g_train.n_edges:]
    spec_new = new[:, new_types == j.relations.index("spectral")]
    assert spec_new.size and not np.isin(spec_new[0], bad[bad < 120]).any()
    assert not np.isin(spec_new[1], bad[bad >= 120]).any()


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_down_weighting_keeps_flagged_nodes_m_most_similar_spectral_partners(sim):
    """ood_spectral_k = m: a flagged node keeps a spectral pair only with its m most cosine-similar
    partners of the full graph (both directions); other pairs and relations are unchanged; a
    flagged new point receives its m most similar training points."""
    from socspec.remote.graph import GraphNodes, GraphSpec, build_graph, join_graph

    rng = np.random.default_rng(0)
    flag = np.zeros(len(sim), bool)
    flag[rng.choice(len(sim), 20, replace=False)] = True
    x = sim.band_spectra
    nodes = GraphNodes(sim.lat, sim.lon, None, x, flag)
    m = 2
    full = build_graph(nodes, GraphSpec(relations=("spatial", "spectral")))
    down = build_graph(nodes, GraphSpec(relations=("spatial", "spectral"), drop_ood_edges=True, ood_spectral_k=m))
    partners = {}
    for j, i in _pairs(full.relation("spectral")):
        partners.setdefault(i, []).append(j)
    top = {f: set(sorted(partners[f], key=lambda j: -_cos(x[f], x[j]))[:m]) for f in np.flatnonzero(flag)}
    want = {(j, i) for j, i in _pairs(full.relation("spectral"))
            if (not flag[i] or j in top[i]) and (not flag[j] or i in top[j])}
    got = _pairs(down.relation("spectral"))
    assert got == want and got != _pairs(full.relation("spectral"))
    into = np.bincount(down.relation("spectral")[1], minlength=len(sim))
    # down-weighted, not dropped (a pair of two flagged nodes needs both to rank it in their top m)
    assert np.all(into[flag] <= m) and (into[flag] == m).mean() >= 0.5
    assert _pairs(down.relation("spatial")) == _pairs(full.relation("spatial"))
    # inductive join: a flagged query gets exactly its m most similar training points
    train, query = nodes.take(np.arange(120)), nodes.take(np.arange(120, 160))
    spec = GraphSpec(relations=("spectral",), drop_ood_edges=True, ood_spectral_k=m)
    g_train = build_graph(train, spec)
    j = join_graph(g_train, train, query, spec)
    new = j.edge_index[:, g_train.n_edges:]
    for q in np.flatnonzero(flag[120:160]):
        src = new[0, new[1] == 120 + q]
        best = np.argsort([-_cos(x[120 + q], x[t]) for t in range(120)], kind="stable")[:m]
        assert len(src) <= m and set(src) <= set(best)
    assert (np.bincount(new[1] - 120, minlength=40)[~flag[120:160]] > m).any()


def test_sptgnn_with_latent_edges_reports_ood_and_round_trips(sim, tmp_path):
    from socspec.remote.sptgnn import SpTGNNRegressor

    test = np.zeros(len(sim), bool)
    test[::5] = True
    train, new = sim.subset(~test), sim.subset(test)
    fast = {"n_members": 1, "epochs": 3, "hidden": 16, "heads": 2, "images": False, "device": "cpu"}
    model = SpTGNNRegressor(**fast, spectral_edges="latent", drop_ood_edges=True).fit(train)
    assert model.bridge_ is not None and model.train_nodes_.ood_flag is not None
    d = model.predict_detail(new)
    assert {"ood_score", "ood_threshold", "ood_flag"} <= set(d.columns)
    np.testing.assert_array_equal(d["ood_flag"], d["ood_score"] > d["ood_threshold"])
    model.save(tmp_path / "m")
    back = SpTGNNRegressor.load(tmp_path / "m", device="cpu")
    assert back.bridge_ is not None
    np.testing.assert_array_equal(back.predict_detail(new).to_numpy(), d.to_numpy())
    plain = SpTGNNRegressor(**fast).fit(train)
    assert plain.bridge_ is None and "ood_flag" not in plain.predict_detail(new).columns


def test_band_values_in_digital_numbers_are_refused(fitted):
    from socspec.errors import SocspecInputError
    with pytest.raises(SocspecInputError, match="divide by 10,000"):
        fitted[0].latent(np.full((2, 12), 1500.0))


def test_cli_latent_edges_and_predict_remote_ood_columns(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from socspec_cli.main import app

    runner = CliRunner()
    sim = tmp_path / "sim"
    res = runner.invoke(app, ["simulate-remote", "--out", str(sim), "--n", "160", "--seed", "3",
                              "--chip-size", "4"])
    assert res.exit_code == 0, res.output
    model = tmp_path / "model"
    res = runner.invoke(app, ["fit-remote", "--data", str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--out", str(tmp_path / "run"), "--folds", "2", "--region", "europe",
                              "--models", "sptgnn", "--members", "1", "--epochs", "2", "--no-images",
                              "--device", "cpu", "--quiet", "--spectral-edges", "latent", "--drop-ood-edges",
                              "--ood-spectral-k", "2", "--save-model", str(model)])
    assert res.exit_code == 0, res.output
    assert (model / "bridge" / "manifest.json").is_file()
    import json
    params = json.loads((model / "config.json").read_text())["params"]
    assert params["drop_ood_edges"] and params["ood_spectral_k"] == 2
    out = tmp_path / "preds.csv"
    res = runner.invoke(app, ["predict-remote", str(model), str(sim / "points.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    assert {"ood_score", "ood_threshold", "ood_flag"} <= set(pred.columns)
    assert (pred["ood_flag"] == (pred["ood_score"] > pred["ood_threshold"])).all()
    assert "flagged out-of-distribution" in res.output
    # --shift-scores --area-k: the points judged together, the bridge's own frames on the same points
    res = runner.invoke(app, ["predict-remote", str(model), str(sim / "points.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(tmp_path / "p2.csv"), "--device", "cpu",
                              "--shift-scores", "--area-k", "10"])
    assert res.exit_code == 0, res.output
    from socspec.remote import read_corpus as _read
    from socspec.remote.sptgnn import SpTGNNRegressor as _Reg

    judged = _read(sim / "points.csv", chips=sim / "chips.npz")
    bridge = _Reg.load(model, device="cpu").bridge_
    p2, want = pd.read_csv(tmp_path / "p2.csv"), bridge.shift_frame(judged.band_spectra, lat_deg=judged.lat,
                                                                    lon_deg=judged.lon, area_k=10)
    for col in ("shift_score", "shift_threshold", "area_shift_score"):
        np.testing.assert_allclose(p2[col], want[col], rtol=1e-9, err_msg=col)
    assert (p2["shift_flag"] == want["shift_flag"]).all() and (p2["area_shift_flag"] == want["area_shift_flag"]).all()
    np.testing.assert_allclose(p2["area_ood_score"], bridge.score_frame(
        judged.band_spectra, judged.lat, judged.lon, area_k=10)["area_ood_score"], rtol=1e-9)
    np.testing.assert_allclose(p2["soc_pred"], pred["soc_pred"], rtol=1e-9)  # predictions unchanged
    assert "flagged by the corpus-level shift score" in res.output
    # points without band spectra (no band columns, no chips to read them from) cannot be judged: a
    # clear error, nothing written
    no_bands = tmp_path / "no_bands.csv"
    pts = pd.read_csv(sim / "points.csv")
    from socspec.remote.corpus import S2_BANDS
    pts.drop(columns=[c for c in S2_BANDS if c in pts.columns]).to_csv(no_bands, index=False)
    res = runner.invoke(app, ["predict-remote", str(model), str(no_bands), "--out", str(tmp_path / "p3.csv"),
                              "--device", "cpu", "--shift-scores"])
    assert res.exit_code == 2 and "band spectra" in res.output and not (tmp_path / "p3.csv").exists()
    res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r2"), "--n-sim", "100",
                              "--models", "sptgnn", "--spectral-edges", "pixels"])
    assert res.exit_code == 2 and "--spectral-edges" in res.output
    res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r2"), "--n-sim", "100",
                              "--models", "sptgnn", "--drop-ood-edges", "--ood-spectral-k", "-1"])
    assert res.exit_code == 2 and "--ood-spectral-k" in res.output and not (tmp_path / "r2").exists()
    res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r2"), "--n-sim", "100",
                              "--models", "sptgnn", "--init", str(sim)])
    assert res.exit_code == 2 and "manifest.json" in res.output and not (tmp_path / "r2").exists()

    # ood-report on the remote model: the table holds region_risk_table's values
    rep = tmp_path / "report"
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--region-col", "region", "--out", str(rep)])
    assert res.exit_code == 0, res.output
    from socspec.ood import region_risk_table
    from socspec.remote import read_corpus
    from socspec.remote.sptgnn import SpTGNNRegressor

    fitted = SpTGNNRegressor.load(model, device="cpu")
    corpus = read_corpus(sim / "points.csv", chips=sim / "chips.npz")
    scores = fitted.bridge_.ood_score(corpus.band_spectra)
    want = region_risk_table(scores, corpus.points["region"], fitted.bridge_.val_scores_, fitted.bridge_.ood_threshold_,
                             soc_true=corpus.soc_g_kg, soc_pred=fitted.predict_detail(corpus)["soc_pred"])
    got = pd.read_csv(rep / "regions.csv")
    for col in ("n", "median_score", "frac_flagged", "welch_t", "rmse_g_kg", "bias_g_kg"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-9, err_msg=col)
    assert list(got["risk"]) == list(want["risk"]) and (rep / "index.html").is_file()
    shift = fitted.bridge_.shift_frame(corpus.band_spectra)  # corpus-level score: same forest, same seed
    by_region = shift["shift_flag"].groupby(corpus.points["region"].astype(str)).mean()
    np.testing.assert_allclose(got["frac_shift_flagged"], by_region.loc[got["region"]].to_numpy(), rtol=1e-12)
    pts = pd.read_csv(rep / "points.csv")
    np.testing.assert_allclose(pts["shift_score"], shift["shift_score"], rtol=1e-12)
    # area scores (default --area-k 10): the bridge kept its calibration pixels' positions at fit
    area = fitted.bridge_.score_frame(corpus.band_spectra, corpus.lat, corpus.lon, area_k=10)
    np.testing.assert_allclose(pts["area_ood_score"], area["area_ood_score"], rtol=1e-12)
    by_region = area["area_ood_flag"].groupby(corpus.points["region"].astype(str)).mean()
    np.testing.assert_allclose(got["frac_area_flagged"], by_region.loc[got["region"]].to_numpy(), rtol=1e-12)
    assert "frac_area_shift_flagged" in got.columns and "area_shift_flag" in pts.columns
    assert f"{area['area_ood_flag'].mean():.1%} flagged by the OOD score" in res.output
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--region-col", "region", "--out", str(tmp_path / "rep5"), "--area-k", "-1"])
    assert res.exit_code == 2 and "--area-k" in res.output and not (tmp_path / "rep5").exists()
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--region-col", "grid:2", "--out", str(tmp_path / "rep2")])
    assert res.exit_code == 0, res.output
    cells = pd.read_csv(tmp_path / "rep2" / "points.csv")["region"]
    lat0 = np.floor(corpus.lat / 2) * 2
    assert all(c.split(",")[0] == f"{a:g}" for c, a in zip(cells, lat0))
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--region-col", "preset:africa,europe", "--out", str(tmp_path / "rep4")])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "rep4" / "regions.csv")
    want = region_risk_table(scores, np.full(len(corpus), "europe"), fitted.bridge_.val_scores_,
                             fitted.bridge_.ood_threshold_, soc_true=corpus.soc_g_kg,
                             soc_pred=fitted.predict_detail(corpus)["soc_pred"])
    assert list(got["region"]) == ["europe"]
    for col in ("n", "median_score", "frac_flagged", "welch_t", "rmse_g_kg"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-9, err_msg=col)
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--chips", str(sim / "chips.npz"),
                              "--region-col", "grid:-1", "--out", str(tmp_path / "rep3")])
    assert res.exit_code == 2 and "grid" in res.output and not (tmp_path / "rep3").exists()
    res = runner.invoke(app, ["ood-report", str(model), str(sim / "points.csv"), "--region-col", "region",
                              "--out", str(tmp_path / "rep3")])
    assert res.exit_code == 2 and "no band spectra" in res.output and not (tmp_path / "rep3").exists()


def test_init_from_fine_tunes_the_saved_members(sim, tmp_path):
    """--init: the members start from the saved model's weights and units (lr ≈ 0 keeps them)."""
    from socspec.errors import SocspecInputError
    from socspec.remote.sptgnn import SpTGNNRegressor

    north = sim.points["region"].to_numpy() != "west"
    fast = {"n_members": 1, "epochs": 2, "hidden": 16, "heads": 2, "images": False, "device": "cpu"}
    donor = SpTGNNRegressor(**fast).fit(sim.subset(north))
    donor.save(tmp_path / "global")
    west = sim.subset(~north)
    tuned = SpTGNNRegressor(**fast, lr=1e-12, init_from=tmp_path / "global").fit(west)
    scratch = SpTGNNRegressor(**fast, lr=1e-12).fit(west)
    assert tuned.encoder_.to_dict() == donor.encoder_.to_dict()
    d, t, s = (m.members_[0].state_dict() for m in (donor, tuned, scratch))
    assert all(torch.allclose(d[k].float(), t[k].float(), atol=1e-8) for k in d)
    assert not all(torch.allclose(d[k].float(), s[k].float(), atol=1e-8) for k in d)
    with pytest.raises(SocspecInputError, match="does not match"):
        SpTGNNRegressor(**fast, relations=("spatial",), init_from=tmp_path / "global").fit(west)


def test_pretraining_runs_first_on_the_unlabelled_spectra(library):
    from socspec.errors import SocspecInputError

    rng = np.random.default_rng(5)
    pre, fine = _mixtures(library, 300, rng), _mixtures(library, 100, rng)
    kw = dict(decoder="ann", endmembers=library.subset(KNOWN), cover=False, hidden=16, epochs=5, patience=None)
    ae = SensorBandAutoencoder(pretrain_epochs=7, **kw).fit(fine, pretrain=pre)
    assert [h["phase"] for h in ae.history_] == ["pretrain"] * 7 + ["finetune"] * 5
    assert ae.n_pretrain_ == 300 and ae.n_train_ == 80
    plain = SensorBandAutoencoder(pretrain_epochs=7, **kw).fit(fine)
    assert not np.array_equal(plain.latent(fine), ae.latent(fine))
    with pytest.raises(SocspecInputError, match="pretrain"):
        SensorBandAutoencoder(**kw).fit(fine, pretrain="lucas")


def test_preset_regions_label_points_by_outline_first_listed_wins():
    import pandas as pd

    from socspec.errors import SocspecInputError
    from socspec.remote import Corpus
    from socspec.remote.ood_report import point_regions

    # Paris, Nairobi, New York, Tenerife (Canaries: inside both the europe and the africa preset)
    pts = pd.DataFrame({"id": list("abcd"), "lat": [48.86, -1.29, 40.71, 28.29], "lon": [2.35, 36.82, -74.0, -16.63],
                        "soc_g_kg": [10.0] * 4})
    c = Corpus(pts)
    assert list(point_regions(c, "preset")) == ["europe", "africa", "outside", "europe"]
    assert list(point_regions(c, "preset:africa,europe")) == ["europe", "africa", "outside", "africa"]
    assert list(point_regions(c, "preset:global")) == ["global"] * 4
    with pytest.raises(SocspecInputError, match="mars"):
        point_regions(c, "preset:mars")


# ------------------------------------------------------------------ area scores (spatial pooling)
def test_spatial_pool_is_the_mean_over_the_k_nearest_within_the_radius():
    """Reference: brute-force great-circle distances (scikit-learn's haversine_distances), each
    point's own score plus those of its k − 1 nearest others no farther than the radius."""
    from sklearn.metrics.pairwise import haversine_distances

    from socspec.remote.bridge import spatial_pool

    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(44, 48, 60), rng.uniform(0, 5, 60)
    s = rng.gamma(2.0, 1.0, 60)
    d = 6371.0088 * haversine_distances(np.radians(np.column_stack([lat, lon])))
    for k, r in ((5, 80.0), (10, 40.0), (60, 1e6)):
        want = np.empty(60)
        for i in range(60):
            order = [j for j in np.argsort(d[i], kind="stable") if j != i][:k - 1]
            near = [j for j in order if d[i, j] <= r]
            want[i] = (s[i] + s[near].sum()) / (1 + len(near))
        np.testing.assert_allclose(spatial_pool(lat, lon, s, k, r), want, rtol=1e-12)
    np.testing.assert_allclose(spatial_pool(lat, lon, s, 60, 1e6), s.mean(), rtol=1e-12)  # all pooled
    np.testing.assert_array_equal(spatial_pool(lat, lon, s, 1, 50.0), s)
    with pytest.raises(ValueError):
        spatial_pool(lat, lon, s, 0, 50.0)


@pytest.fixture(scope="module")
def placed(library):
    """An autoencoder fitted with its pixels' positions (lat 40–50°, lon 0–10°), fresh pixels there,
    and a weakly shifted area (4–8 % hematite) at lat 44–45°, lon 12–13.5°."""
    rng = np.random.default_rng(0)
    train = _mixtures(library, 500, rng)
    lat, lon = rng.uniform(40, 50, 500), rng.uniform(0, 10, 500)
    ae = SensorBandAutoencoder(decoder="ann", endmembers=library.subset(KNOWN), cover=False, hidden=32,
                               epochs=150, patience=None, seed=0).fit(train, lat_deg=lat, lon_deg=lon)
    fresh = _mixtures(library, 400, rng)
    s2 = library.to_sensor("sentinel2")
    a = rng.dirichlet(np.ones(len(KNOWN)), 150)
    w = rng.uniform(0.04, 0.08, (150, 1))
    weak = ((1 - w) * (a @ s2.subset(KNOWN).spectra) + w * s2.subset(["hematite"]).spectra)
    weak = weak * rng.uniform(0.8, 1.0, (150, 1)) + rng.normal(0, 0.003, weak.shape)
    q = np.vstack([fresh, weak])
    qlat = np.r_[rng.uniform(40, 50, 400), rng.uniform(44, 45, 150)]
    qlon = np.r_[rng.uniform(0, 10, 400), rng.uniform(12, 13.5, 150)]
    return ae, train, lat, lon, q, qlat, qlon


def test_area_scores_find_a_weakly_shifted_area_the_per_point_flag_misses(placed):
    """Reference: the per-point scores of the judged points and of the calibration pixels (at their
    stored positions) pooled by spatial_pool over both sets; threshold = the split-conformal one of
    the calibration pixels' pooled scores. Behaviour: the shifted area, flagged ~60 % point by point,
    is flagged ≥ 90 % as an area, and the in-distribution points stay near α."""
    from socspec.ood import conformal_calibration
    from socspec.remote.bridge import AREA_RADIUS_KM, spatial_pool

    ae, train, lat, lon, q, qlat, qlon = placed
    np.testing.assert_array_equal(ae.calibration_lat_, lat[ae.val_index_])
    np.testing.assert_array_equal(ae.calibration_lon_, lon[ae.val_index_])
    frame = ae.score_frame(q, qlat, qlon, area_k=10)
    pooled = spatial_pool(np.r_[qlat, ae.calibration_lat_], np.r_[qlon, ae.calibration_lon_],
                          np.r_[ae.ood_score(q), ae.val_scores_], 10, AREA_RADIUS_KM)
    np.testing.assert_allclose(frame["area_ood_score"], pooled[:len(q)], rtol=1e-12)
    thr = conformal_calibration(pooled[len(q):], 0.05)["threshold"]
    assert frame["area_ood_threshold"].iloc[0] == pytest.approx(thr, rel=1e-12)
    per_point, area = frame["ood_flag"].to_numpy(), frame["area_ood_flag"].to_numpy()
    assert per_point[400:].mean() <= 0.8 and area[400:].mean() >= 0.9
    assert area[:400].mean() <= 0.12
    shift = ae.shift_frame(q, lat_deg=qlat, lon_deg=qlon, area_k=10)
    assert shift["area_shift_flag"].to_numpy()[400:].mean() >= 0.9
    assert shift["area_shift_flag"].to_numpy()[:400].mean() <= 0.12
    assert shift.attrs["area_calibration"]["n_calibration"] == 100
    np.testing.assert_allclose(  # the area part does not change the per-point shift score
        shift["shift_score"], ae.shift_frame(q)["shift_score"], rtol=1e-12)


def test_area_scores_count_a_calibration_pixel_judged_again_once(placed, tmp_path):
    """Judging the training pixels themselves: each calibration pixel is one point of the pooled set
    (its row), so the threshold is the conformal one of those rows' area scores; positions survive
    save/load; no positions → a clear error."""
    from socspec.errors import SocspecInputError
    from socspec.ood import conformal_calibration

    ae, train, lat, lon, q, qlat, qlon = placed
    frame = ae.score_frame(train, lat, lon, area_k=10)
    want = conformal_calibration(frame["area_ood_score"].to_numpy()[ae.val_index_], 0.05)["threshold"]
    assert frame["area_ood_threshold"].iloc[0] == pytest.approx(want, rel=1e-12)
    ae.save(tmp_path / "m")
    back = SensorBandAutoencoder.load(tmp_path / "m")
    np.testing.assert_array_equal(back.calibration_lat_, ae.calibration_lat_)
    np.testing.assert_allclose(back.score_frame(q, qlat, qlon, area_k=10)["area_ood_score"],
                               ae.score_frame(q, qlat, qlon, area_k=10)["area_ood_score"], rtol=1e-12)
    with pytest.raises(SocspecInputError, match="positions"):
        ae.score_frame(q, area_k=10)
    with pytest.raises(SocspecInputError, match="positions"):
        SensorBandAutoencoder(epochs=1).fit(train, lat_deg=lat[:10], lon_deg=lon[:10])
    back.calibration_lat_ = back.calibration_lon_ = None  # as fitted without positions, or saved before
    with pytest.raises(SocspecInputError, match="refit"):
        back.shift_frame(q, lat_deg=qlat, lon_deg=qlon, area_k=10)
