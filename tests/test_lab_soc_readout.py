"""The wide & deep SOC head (LabSOCModel soc_readout="pls"): the linear readout is a PLSR, the
model starts exactly at it, the latents stay a composition, and it is the default physics model's."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _lab_models import small_library_and_table, small_physics_model  # noqa: E402
from sklearn.cross_decomposition import PLSRegression  # noqa: E402

from socspec.lab.estimator import LabSOCModel  # noqa: E402
from socspec.lab.models import Encoder, LinearSOCReadout  # noqa: E402
from socspec.lab.pls import PLSBaseline  # noqa: E402
from socspec.spectra import reflectance_to_absorbance  # noqa: E402
from socspec.units import to_fraction  # noqa: E402

WL = np.arange(400.0, 2450.0, 20.0)


def test_readout_reproduces_sklearn_pls():
    rng = np.random.default_rng(0)
    r = rng.uniform(0.1, 0.6, (60, 25))
    a = reflectance_to_absorbance(r)
    y = a[:, 3] * 0.02 - a[:, 10] * 0.01 + rng.normal(0, 1e-3, 60)
    pls = PLSRegression(n_components=4, scale=False).fit(a, y)
    ro = LinearSOCReadout(25, max_components=6)
    mu = a.mean(0)
    ro.set_from_pls(mu, pls.x_rotations_, pls.y_loadings_.ravel(), y.mean(), ((a - mu) @ pls.x_rotations_).std(0))
    with torch.no_grad():
        got = ro(torch.as_tensor(r, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(got, pls.predict(a).ravel(), atol=2e-5)
    assert torch.all(ro.rotations_[:, 4:] == 0)  # unused components carry nothing
    with pytest.raises(ValueError, match="rotations must be"):
        ro.set_from_pls(mu, np.zeros((25, 7)), np.zeros(7), 0.0, np.ones(7))


def test_encoder_with_readout_keeps_a_composition_and_starts_at_the_readout():
    torch.manual_seed(0)
    enc = Encoder(25, 5, hidden=8, soc_readout=True)
    enc.readout.b.data.fill_(0.03)  # a constant readout at 30 g/kg
    enc.init_latent_prior(0.02, 0, other_fractions=[0.1, 0.2, 0.3, 0.4])
    x = torch.rand(16, 25) * 0.5 + 0.1
    m = enc(x)
    np.testing.assert_allclose(m.sum(1).detach().numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(m[:, 0].detach().numpy(), 0.03, atol=1e-6)  # softplus floor ≈ identity here
    np.testing.assert_allclose((m[:, 1:] / m[:, 1:].sum(1, keepdim=True)).detach().numpy()[0],
                               [0.1, 0.2, 0.3, 0.4], atol=0.02)
    m[:, 0].sum().backward()  # the deep SOC output still learns
    assert enc.net[-1].weight.grad[0].abs().sum() > 0 and enc.readout.q.grad is not None


def test_physics_model_starts_at_the_pls_of_its_training_scans():
    lib, tab = small_library_and_table(WL, n=90, seed=1)
    m = small_physics_model(lib, epochs=1)
    assert m._soc_readout() == "pls"  # the default physics model has it; seed 003's does not
    assert m.set_params(mixing="linear")._soc_readout() == "none"
    m.set_params(mixing="hapke")
    data = m.prepare_training_data(tab)
    m.build_network(data.reflectance.shape[1])
    m.initialise_network(data)
    a = reflectance_to_absorbance(data.reflectance.astype(np.float64))
    pls = PLSBaseline(max_components=30, seed=0).fit(a, to_fraction(data.soc_g_kg))
    assert m.soc_readout_components_ == pls.n_components_
    got, want = m.predict(tab), 1000 * pls.predict(a)  # g/kg; every labelled scan
    high = want > 8.0  # above a few g/kg the soft floor at 0 is the identity
    assert high.mean() > 0.5
    np.testing.assert_allclose(got[high], want[high], atol=0.05)
    assert np.all(got >= want - 1e-3) and np.all(got > 0)  # below, it only lifts towards 0+


def test_default_model_round_trips_with_its_readout(tmp_path):
    lib, tab = small_library_and_table(WL, n=60, seed=2)
    m = small_physics_model(lib, epochs=3, patience=None).fit(tab)
    m.save(tmp_path / "m")
    back = LabSOCModel.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict(tab), m.predict(tab))


def test_pls_fixed_keeps_the_readout_at_the_pls_while_the_deep_part_learns():
    lib, tab = small_library_and_table(WL, n=80, seed=5)
    m = small_physics_model(lib, epochs=8, patience=None, lr=3e-3, soc_readout="pls_fixed",
                            val_fraction=0.0).fit(tab)
    x = m.model_inputs(tab)
    pls = PLSBaseline(max_components=30, seed=0).fit(reflectance_to_absorbance(x.astype(np.float64)),
                                                     to_fraction(tab.soc_g_kg))
    with torch.no_grad():
        ro = m.net_.encoder.readout(torch.as_tensor(x)).double().numpy()
    np.testing.assert_allclose(ro, pls.predict(reflectance_to_absorbance(x.astype(np.float64))), atol=2e-6)
    assert float(m.net_.encoder.net[-1].weight[0].abs().sum()) > 0  # the deep SOC row moved off its zero start
