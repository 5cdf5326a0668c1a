"""socspec's estimators are scikit-learn estimators: the transformers and the PLS baseline pass
``check_estimator``; ``LabSOCModel`` declares a constraint for, documents and clones every
hyper-parameter, and refuses bad values through scikit-learn's parameter validation."""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from socspec.errors import SocspecInputError
from socspec.lab.pls import PLSBaseline
from socspec.preprocess import SNV, Resample, SavitzkyGolay, ToAbsorbance, ToReflectance, Trim

# window_length=1 / polyorder=0: check_estimator feeds data with as few as one column, and a
# longer window than the spectrum is an error by design (tested in test_preprocess)
CHECKED = [SNV(), ToAbsorbance(), ToReflectance(), SavitzkyGolay(window_length=1, polyorder=0), PLSBaseline(cv=3)]


def _expected_failures(est) -> dict:
    if isinstance(est, SNV):
        # integer test data has constant rows, and SNV of a constant spectrum (sd 0) is undefined:
        # socspec raises instead of dividing by zero
        return {"check_estimators_dtypes": "SNV of a constant spectrum is an error by design"}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_check_estimator(estimator, check):
    check(estimator)


def test_snv_constant_spectrum_is_refused():
    with pytest.raises(ValueError, match="constant spectrum"):
        SNV().fit_transform(np.ones((2, 5)))


@pytest.mark.parametrize("make", [
    lambda: Trim(wavelength_nm=np.arange(400.0, 410.0), wl_min_nm=402, wl_max_nm=406),
    lambda: Resample(wavelength_nm=np.arange(400.0, 410.0), target_wavelength_nm=[401.0, 403.5, 408.0]),
])
def test_grid_transformers_follow_the_estimator_api(make):
    """Trim and Resample take their input width from the wavelength_nm hyper-parameter, so
    check_estimator's data of arbitrary width is not valid input for them; the API parts here."""
    est = make()
    x = np.random.default_rng(0).uniform(0.1, 0.9, (4, 10))
    c = clone(est)
    assert c is not est and all(np.array_equal(np.asarray(v), np.asarray(est.get_params()[k]))
                                for k, v in c.get_params().items() if v is not None)
    out = c.fit(x).transform(x)
    assert c.n_features_in_ == 10 and out.shape == (4, len(c.wavelength_nm_out_))
    with pytest.raises(ValueError, match="10 wavelengths|features"):
        c.transform(x[:, :9])
    with pytest.raises(Exception, match="not fitted"):
        make().transform(x)


# ------------------------------------------------------------------ LabSOCModel
torch = pytest.importorskip("torch")
from socspec.endmembers import GridEndmembers  # noqa: E402
from socspec.lab.estimator import LabSOCModel  # noqa: E402

# a value different from the default for every hyper-parameter
NON_DEFAULT = dict(
    decoder="ann", hidden=17, n_latent=5,
    endmembers=GridEndmembers(["a", "b"], [400.0, 500.0], [[0.2, 0.3], [0.5, 0.4]], [2.0, 3.0]),
    alpha_conversion=False, sigma_soc=0.005, sigma_reflectance=0.02, wl_min_nm=400.0, wl_max_nm=2400.0,
    step_nm=5.0, epochs=7, lr=3e-3, weight_decay=1e-5, batch_size=32, val_fraction=0.2, patience=9,
    device="cpu", seed=3, ood_false_alarm=0.1, checkpoint_dir="ck", checkpoint_every=5, progress=False,
    n_hidden_layers=3, init_decoder=False, n_threads=1,
    mixing="linear", photometric=True, water=True, ood_calibration="cv", f_soc_init="dark", n_members=2,
    soc_readout="pls", ood_score="reconstruction", soc_blend="none", soc_blend_base="pls", ood_confidence=0.9,
)


def _same(a, b) -> bool:
    if isinstance(a, GridEndmembers):
        return (isinstance(b, GridEndmembers) and a.names == b.names and np.array_equal(a.spectra, b.spectra)
                and np.array_equal(a.rho_r, b.rho_r) and np.array_equal(a.wavelength_nm, b.wavelength_nm))
    return a == b


def test_every_hyper_parameter_is_covered():
    params = set(inspect.signature(LabSOCModel).parameters)
    assert set(LabSOCModel._parameter_constraints) == params
    missing = params - set(NON_DEFAULT)
    assert not missing, f"add a non-default value for {missing} to NON_DEFAULT"
    doc = LabSOCModel.__doc__
    undocumented = [p for p in params if not re.search(rf"^\s+{p}\b.*:", doc, re.M)
                    and not re.search(rf"^\s+\w+, {p}\b|^\s+{p}, \w+", doc, re.M)]
    assert not undocumented, f"document {undocumented} in LabSOCModel's Parameters section"


def test_clone_round_trips_every_parameter():
    defaults = {k: p.default for k, p in inspect.signature(LabSOCModel).parameters.items()}
    for k, v in NON_DEFAULT.items():
        assert not _same(v, defaults[k]), f"NON_DEFAULT[{k!r}] equals the default"
    m = LabSOCModel(**NON_DEFAULT)
    c = clone(m)
    got = c.get_params(deep=False)
    assert set(got) == set(NON_DEFAULT)
    for k, v in NON_DEFAULT.items():
        assert _same(got[k], v), k
    assert c.set_params(hidden=9).hidden == 9 and m.hidden == 17
    with pytest.raises(ValueError, match="Invalid parameter"):
        m.set_params(hiden=9)


@pytest.mark.parametrize("bad", [dict(decoder="pca"), dict(hidden=0), dict(hidden=2.5), dict(val_fraction=1.0),
                                 dict(sigma_soc=0.0), dict(batch_size=0), dict(n_threads=0),
                                 dict(endmembers="not a library"), dict(wl_min_nm=900.0, wl_max_nm=800.0)])
def test_bad_parameters_are_refused_before_training(bad):
    from socspec.lab.simulate import simulate_lab_spectra

    table = simulate_lab_spectra(n=20, seed=0, wavelength_nm=np.arange(400.0, 2401.0, 50.0))
    with pytest.raises(SocspecInputError, match=next(iter(bad)).split("_nm")[0]):
        LabSOCModel(device="cpu", progress=False, epochs=1, **bad).fit(table)


def test_n_threads_is_scoped_to_fit():
    from socspec.lab.estimator import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_score_is_r2_of_the_soc_predictions():
    from sklearn.metrics import r2_score

    from socspec.lab.simulate import simulate_lab_spectra

    wl = np.arange(400.0, 2401.0, 25.0)
    table = simulate_lab_spectra(n=60, seed=1, wavelength_nm=wl)
    m = LabSOCModel(decoder="none", hidden=16, epochs=3, device="cpu", progress=False, patience=None,
                    batch_size=None).fit(table)
    assert m.score(table, table.soc_g_kg) == pytest.approx(r2_score(table.soc_g_kg, m.predict(table)))


def test_cli_names_the_flag_for_a_bad_hyper_parameter(tmp_path):
    from typer.testing import CliRunner

    from socspec.io import write_spectra
    from socspec.lab.simulate import simulate_lab_spectra
    from socspec_cli.main import app

    f = write_spectra(simulate_lab_spectra(n=20, seed=0, wavelength_nm=np.arange(400.0, 2401.0, 50.0)),
                      tmp_path / "s.csv")
    res = CliRunner().invoke(app, ["fit-lab", str(f), "--out", str(tmp_path / "o"), "--hidden", "0"])
    assert res.exit_code == 2 and "--hidden" in res.output and "Traceback" not in res.output


def test_flag_names_translates_parameters_not_words():
    from socspec_cli._common import flag_names

    with pytest.raises(SocspecInputError) as info:
        with flag_names(decoder="--decoder", test_size="--test-size"):
            raise SocspecInputError("the physics decoder needs 'decoder'='physics'; test_size must be < 1")
    assert str(info.value) == "the physics decoder needs --decoder='physics'; --test-size must be < 1"
