"""SpTGNN model, training and estimator: no leakage, subgraph = full graph, masking, ensemble
decomposition, artifact round trip, checkpoint resume."""
import json

import numpy as np
import pytest
import torch

from socspec.remote import simulate_corpus
from socspec.remote.sptgnn import SpTGNNRegressor

# small and fast: CNN image stand-in, 2 members, a few epochs
FAST = {"n_members": 2, "epochs": 4, "patience": 10, "hidden": 16, "heads": 2, "backbone": "cnn",
        "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def corpus():
    return simulate_corpus(n=160, seed=2, chip_size=4)


@pytest.fixture(scope="module")
def split(corpus):
    test = np.zeros(len(corpus), bool)
    test[::5] = True
    return corpus.subset(~test), corpus.subset(test)


@pytest.fixture(scope="module")
def fitted(split):
    torch.set_num_threads(1)
    return SpTGNNRegressor(**FAST).fit(split[0])


def test_changing_test_labels_changes_no_prediction(fitted, split):
    """The no-leakage test: test points see training labels only (label features on)."""
    assert fitted.label_features and "labels" in fitted.members_[0].streams
    test = split[1]
    base = fitted.predict_detail(test)
    changed = test.subset(np.arange(len(test)))
    changed.points["soc_g_kg"] = np.random.default_rng(1).uniform(0, 500, len(test))
    np.testing.assert_array_equal(fitted.predict_detail(changed).to_numpy(), base.to_numpy())
    unlabelled = test.subset(np.arange(len(test)))
    unlabelled.points["soc_g_kg"] = np.nan
    np.testing.assert_array_equal(fitted.predict_detail(unlabelled).to_numpy(), base.to_numpy())
    # a point's prediction does not depend on which other points are predicted with it
    few = fitted.predict_detail(test.subset(np.arange(5)))
    np.testing.assert_allclose(few.to_numpy(), base.to_numpy()[:5], rtol=1e-5, atol=1e-6)


def test_ensemble_parts_and_calibration(fitted, split):
    d = fitted.predict_detail(split[1])
    assert list(d.columns) == ["soc_pred", "soc_sd", "aleatoric_sd", "epistemic_sd"]
    np.testing.assert_allclose(d.soc_sd ** 2, d.aleatoric_sd ** 2 + d.epistemic_sd ** 2, rtol=1e-9)
    assert (d.epistemic_sd > 0).all()  # two members with different seeds disagree
    # the calibrated σ is the raw ensemble σ times the scale fitted on the calibration split
    from socspec.remote.uq import combine_ensemble

    assert fitted.calibration_.scale_ > 0 and fitted.n_calibration_ > 0
    mean, std = fitted.predict(split[1])
    np.testing.assert_array_equal(mean, d.soc_pred)
    np.testing.assert_array_equal(std, d.soc_sd)
    assert combine_ensemble  # imported: one definition of the decomposition (tested in test_remote_uq)


def test_subgraph_batches_give_the_full_graph_outputs(fitted, split):
    from socspec.remote.graph import join_graph
    from socspec.remote.training import forward_nodes, set_label_features

    m = fitted.members_[0]
    test = split[1]
    q = fitted._node_arrays(test)
    graph = join_graph(fitted.train_graph_, fitted.train_nodes_, fitted._graph_nodes(test, q),
                       fitted._spec(fitted.relations_))
    arrays = {k: np.concatenate([v, q[k]]) for k, v in fitted.train_arrays_.items() if k in q}
    x = fitted._tensors(arrays, torch.device("cpu"))
    nt = len(fitted.train_nodes_)
    y = np.full(graph.n_nodes, np.nan)
    y[:nt] = fitted.train_y_std_
    set_label_features(x, graph, y, np.arange(graph.n_nodes) < nt, "cpu")
    ei, et = torch.as_tensor(graph.edge_index), torch.as_tensor(graph.edge_type)
    targets = torch.arange(graph.n_nodes)
    with torch.no_grad():
        full = forward_nodes(m, x, ei, et, targets, full_graph_max_nodes=10**6)
        sub = forward_nodes(m, x, ei, et, targets, full_graph_max_nodes=10, batch_size=17)
    torch.testing.assert_close(sub[0], full[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sub[1], full[1], rtol=1e-5, atol=1e-5)


def test_masked_image_stream_is_ignored(fitted, split):
    from socspec.remote.graph import build_graph

    m = fitted.members_[0]
    assert "image" in m.streams
    arrays = {k: v for k, v in fitted.train_arrays_.items()}
    g = fitted.train_graph_
    x = fitted._tensors(arrays, torch.device("cpu"))
    from socspec.remote.training import set_label_features

    set_label_features(x, g, fitted.train_y_std_, np.ones(g.n_nodes, bool), "cpu")
    x["image_present"][:] = False
    ei, et = torch.as_tensor(g.edge_index), torch.as_tensor(g.edge_type)
    with torch.no_grad():
        a = m(x, ei, et)[0]
        x["image"] = torch.randn_like(x["image"]) * 100
        b = m(x, ei, et)[0]
    torch.testing.assert_close(a, b)
    assert build_graph  # the graph module is what the model runs on


def test_ablation_switches_change_the_network(split):
    from socspec.remote.attention import RelationalBlock

    train = split[0]
    kw = dict(FAST, n_members=1, epochs=1)
    full = SpTGNNRegressor(**kw).fit(train).members_[0]
    assert full.streams == ["covariates", "image", "position", "time", "labels"]
    assert any(isinstance(b, RelationalBlock) for b in full.blocks) and full.use_moe
    m = SpTGNNRegressor(**dict(kw, graph=False, moe=False, images=False, position=False,
                               label_features=False)).fit(train).members_[0]
    assert m.streams == ["covariates", "time"]
    assert not any(isinstance(b, RelationalBlock) for b in m.blocks) and not m.use_moe
    est = SpTGNNRegressor(**dict(kw, relations=("spatial",))).fit(train)
    assert est.relations_ == ("spatial",) and set(est.train_graph_.edge_type.tolist()) == {0}
    with pytest.raises(ValueError, match="label_features need the spatial relation"):
        SpTGNNRegressor(**dict(kw, relations=("elevation",))).fit(train)
    with pytest.raises(ValueError, match="n_members"):
        SpTGNNRegressor(**dict(kw, n_members=0)).fit(train)
    # the position stream's Fourier wavelengths reach the encoder: 20,000 km down to the minimum
    from socspec.kernels.neighbours import EARTH_RADIUS_KM

    pos = SpTGNNRegressor(**dict(kw, position_min_wavelength_km=500.0, position_frequencies=3)
                          ).fit(train).members_[0].position
    wavelengths_km = 2 * np.pi * EARTH_RADIUS_KM / pos.omega.double().numpy()
    np.testing.assert_allclose(wavelengths_km, [20000.0, np.sqrt(20000.0 * 500.0), 500.0], rtol=1e-5)
    with pytest.raises(ValueError, match="position_min_wavelength_km"):
        SpTGNNRegressor(**dict(kw, position_min_wavelength_km=0.0)).fit(train)


def test_save_load_reproduces_predictions(fitted, split, tmp_path):
    from socspec.runs import ModelFolderError

    folder = fitted.save(tmp_path / "model")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["n_members"] == 2 and cfg["relations_built"] == list(fitted.relations_)
    with np.load(folder / "training_points.npz", allow_pickle=False) as z:
        assert z["ids"].tolist() == fitted.train_ids_.tolist()
    loaded = SpTGNNRegressor.load(folder, device="cpu")
    np.testing.assert_array_equal(loaded.predict_detail(split[1]).to_numpy(),
                                  fitted.predict_detail(split[1]).to_numpy())
    assert loaded.get_params()["hidden"] == fitted.hidden
    # a modified file is refused
    (folder / "calibration.json").write_text('{"kind": "variance_scaling", "scale": 9.0}')
    with pytest.raises(ModelFolderError, match="calibration.json"):
        SpTGNNRegressor.load(folder)


def test_folder_saved_before_the_position_parameters_loads_with_the_old_encoder(split, tmp_path):
    """Folders written before position_min_wavelength_km / position_frequencies / forest_covariate
    were parameters used 10 km, 16 frequencies and no forest: such a folder must load with those,
    not today's defaults."""
    from socspec.remote.sptgnn import MODEL_FORMAT, MODEL_FORMAT_VERSION
    from socspec.runs import write_manifest

    old = SpTGNNRegressor(**dict(FAST, n_members=1, epochs=2, position_min_wavelength_km=10.0,
                                 position_frequencies=16, forest_covariate=False)).fit(split[0])
    folder = old.save(tmp_path / "old")
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["params"]["position_min_wavelength_km"], cfg["params"]["position_frequencies"]
    del cfg["params"]["forest_covariate"]
    (folder / "config.json").write_text(json.dumps(cfg))
    write_manifest(folder, MODEL_FORMAT, MODEL_FORMAT_VERSION)
    loaded = SpTGNNRegressor.load(folder, device="cpu")
    assert (loaded.position_min_wavelength_km, loaded.position_frequencies) == (10.0, 16)
    assert loaded.forest_covariate is False
    np.testing.assert_array_equal(loaded.predict_detail(split[1]).to_numpy(),
                                  old.predict_detail(split[1]).to_numpy())


def test_resume_from_checkpoint_continues_the_same_run(split, tmp_path):
    train = split[0]
    kw = dict(FAST, n_members=1, images=False, patience=100)
    ref = SpTGNNRegressor(**dict(kw, epochs=6)).fit(train)
    ck = tmp_path / "ck"
    SpTGNNRegressor(**dict(kw, epochs=3, checkpoint_dir=ck)).fit(train)
    assert len(list(ck.rglob("member0.pt"))) == 1
    # the checkpoint holds plain state dicts: loadable with weights_only=True
    torch.load(next(ck.rglob("member0.pt")), weights_only=True)
    res = SpTGNNRegressor(**dict(kw, epochs=6, checkpoint_dir=ck, resume=True)).fit(train)
    assert res.histories_[0]["resumed_from"] == 3 and res.histories_[0]["epochs_run"] == 6
    for a, b in zip(ref.members_[0].state_dict().values(), res.members_[0].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_on_k_hop_batches(split):
    """Above full_graph_max_nodes training runs on spatially ordered k-hop seed batches."""
    train, test = split
    kw = dict(FAST, n_members=1, epochs=2, images=False)
    est = SpTGNNRegressor(**dict(kw, full_graph_max_nodes=40, batch_size=16)).fit(train)
    mean, std = est.predict(test)
    assert np.isfinite(mean).all() and (std > 0).all() and est.histories_[0]["epochs_run"] == 2


def test_evaluate_gives_the_sptgnn_the_baselines_features():
    """Same covariates for every model: evaluate(features=...) reaches the SpTGNN too."""
    from socspec.remote import evaluate

    c = simulate_corpus(n=120, seed=4, chips=False)
    kw = dict(FAST, n_members=1, epochs=1, images=False)
    seen = []
    orig = SpTGNNRegressor.fit

    def spy(self, corpus, y=None):
        seen.append(self.features)
        return orig(self, corpus, y)

    SpTGNNRegressor.fit = spy
    try:
        res = evaluate(c, features=["lat", "lon", "land_cover"], models=("sptgnn",),
                       scheme="random", n_folds=2, model_params={"sptgnn": kw})
    finally:
        SpTGNNRegressor.fit = orig
    assert seen == [["lat", "lon", "land_cover"]] * 2
    assert np.isfinite(res["predictions"]["pred_sptgnn"]).all()


def test_forest_covariate_is_out_of_fold_leak_free_and_round_trips(split, tmp_path):
    torch.set_num_threads(1)
    train, test = split
    est = SpTGNNRegressor(**{**FAST, "n_members": 1}).fit(train)  # on by default
    assert est.members_[0].covariates is not None and est.members_[0].forest_covariate
    # the training points' covariate is out-of-fold, so it is not the forest's in-sample fit
    ym, ys = est.encoder_.target
    in_sample = est.forest_.predict(train.feature_frame(est.encoder_.columns))
    oof = ym + ys * est.train_arrays_["forest_soc"].astype(np.float64)
    assert np.abs(oof - in_sample).mean() > 0.1 * np.abs(in_sample - train.soc_g_kg).mean()
    # new points get the forest fitted on every training point
    q = est._node_arrays(test)
    np.testing.assert_allclose(ym + ys * q["forest_soc"].astype(np.float64),
                               est.forest_.predict(test.feature_frame(est.encoder_.columns)), rtol=1e-5)
    base = est.predict_detail(test)
    changed = test.subset(np.arange(len(test)))
    changed.points["soc_g_kg"] = np.random.default_rng(1).uniform(0, 500, len(test))
    np.testing.assert_array_equal(est.predict_detail(changed).to_numpy(), base.to_numpy())
    # the saved forest travels as arrays (no pickle) and predicts the same
    est.save(tmp_path / "m")
    assert (tmp_path / "m" / "forest.npz").is_file()
    back = SpTGNNRegressor.load(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(back.predict_detail(test).to_numpy(), base.to_numpy(), rtol=1e-6, atol=1e-6)
