"""fit-remote / simulate-remote end to end on small synthetic corpora."""
import json

from typer.testing import CliRunner

from socspec_cli.main import app

runner = CliRunner()


def test_simulate_then_fit_remote(tmp_path):
    sim = tmp_path / "sim"
    res = runner.invoke(app, ["simulate-remote", "--out", str(sim), "--n", "240", "--seed", "1",
                              "--chip-size", "4"])
    assert res.exit_code == 0, res.output
    assert {"points.csv", "chips.npz", "README.txt"} <= {p.name for p in sim.iterdir()}
    run = tmp_path / "run"
    res = runner.invoke(app, ["fit-remote", "--data", str(sim / "points.csv"), "--chips",
                              str(sim / "chips.npz"), "--out", str(run), "--cv", "spatial",
                              "--block-deg", "1", "--folds", "4", "--quiet", "--region", "europe",
                              "--models", "xgboost,random_forest"])
    assert res.exit_code == 0, res.output
    m = json.loads((run / "metrics.json").read_text())
    for model in ("xgboost", "random_forest"):
        assert {"r2", "rmse", "mae", "mape", "ccc", "moran_i_residuals"} <= set(m[model])
        assert len(m[model]["folds"]) == 4 and m[model]["r2"] > 0.2
    assert m["data"]["simulated"] is True and m["data"]["n"] == 240
    assert "latent_soc_field" not in m["data"]["features"]
    assert m["cv"]["scheme"] == "spatial" and sum(m["cv"]["fold_sizes"]) == 240
    for f in ("predictions.csv", "pred_vs_obs.png", "residual_map_xgboost.png"):
        assert (run / f).stat().st_size > 0
    # an existing run directory is not overwritten without --force
    res = runner.invoke(app, ["fit-remote", "--data", str(sim / "points.csv"), "--out", str(run)])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output


def test_fit_remote_without_data_says_simulated_loudly(tmp_path):
    res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r"), "--n-sim", "200",
                              "--cv", "random", "--folds", "3", "--models", "xgboost", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "SIMULATED" in res.output
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["data"]["simulated"] is True and "random_forest" not in m


def test_fit_remote_region_without_points(tmp_path):
    res = runner.invoke(app, ["fit-remote", "--out", str(tmp_path / "r"), "--n-sim", "200",
                              "--region", "africa"])
    assert res.exit_code == 2 and "no points inside region 'africa'" in res.output
    assert "Traceback" not in res.output


class _MeanStdModel:
    """Corpus-level model (the SpTGNN hook): predicts the training mean with a Gaussian spread."""

    uses_corpus = True

    def get_params(self, deep=False):
        return {}

    def set_params(self, **p):
        return self

    def fit(self, corpus):
        import numpy as np

        assert corpus.chips is None or "s2" in corpus.chips
        self.mean_, self.std_ = float(np.mean(corpus.soc_g_kg)), float(np.std(corpus.soc_g_kg))
        return self

    def predict(self, corpus):
        import numpy as np

        n = len(corpus)
        return np.full(n, self.mean_), np.full(n, self.std_)


def test_registered_corpus_model_gets_uncertainty_metrics():
    import numpy as np

    from socspec.remote import MODELS, evaluate, register_model, simulate_corpus

    register_model("mean_std", lambda seed: _MeanStdModel())
    try:
        c = simulate_corpus(n=150, seed=0, chip_size=4)
        res = evaluate(c, models=("mean_std",), scheme="random", n_folds=3)
    finally:
        MODELS.pop("mean_std")
    m = res["metrics"]["mean_std"]
    assert m["r2"] < 0.05 and 0.0 <= m["coverage90"] <= 1.0 and 0.0 <= m["ece"] <= 0.5
    p = res["predictions"]
    assert {"pred_mean_std", "std_mean_std"} <= set(p.columns)
    # each fold predicts its training mean: all predictions in a fold are equal
    for k in range(3):
        assert np.ptp(p.loc[p.fold == k, "pred_mean_std"]) == 0
