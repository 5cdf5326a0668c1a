"""Stream encoders: TerraMind built with pretrained=False, saved and loaded back from a local
checkpoint; chip unit conversion + standardisation with terratorch's own statistics; image
pooling, freezing and feature caching; covariate, position (dateline) and time encoders."""
import logging

import numpy as np
import pytest
import torch

from socspec.remote import encoders as E


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("terratorch")
    torch.manual_seed(0)
    return E.build_terramind("terramind_v1_tiny", ("S2L2A", "S1GRD", "DEM"))


def _std_chips(b=3, size=16, seed=0, keys=("s2", "s1", "dem")):
    g = torch.Generator().manual_seed(seed)
    shapes = {"s2": 12, "s1": 2, "dem": 1}
    return {E.TERRAMIND_MODALITIES[k]: torch.randn(b, shapes[k], size, size, generator=g) for k in keys}


def test_stats_are_terratorchs_and_the_fallback_copy_matches():
    pytest.importorskip("terratorch")
    from terratorch.models.backbones.terramind.model.terramind_register import (
        v1_pretraining_mean,
        v1_pretraining_std,
    )

    stats = E.TERRAMIND_STATS
    assert stats["S2L2A"]["mean"] == list(v1_pretraining_mean["untok_sen2l2a@224"])
    assert stats["S1GRD"]["std"] == list(v1_pretraining_std["untok_sen1grd@224"])
    assert stats["DEM"]["mean"] == list(v1_pretraining_mean["untok_dem@224"])
    assert E._STATS_COPY == stats  # the copy used without terratorch is the same numbers


def test_standardise_chips_converts_corpus_units():
    st = E.terramind_stats()
    mean_s2 = np.array(st["S2L2A"]["mean"]) / 10000.0  # corpus S2 is reflectance 0–1
    s2 = np.broadcast_to(mean_s2[None, :, None, None], (2, 12, 4, 4)).astype(np.float32)
    s1 = np.full((2, 2, 4, 4), -12.599, np.float32)  # dB, VV mean
    dem = np.full((2, 1, 4, 4), 670.665 + 951.272, np.float32)  # metres: mean + 1 std
    out = E.standardise_chips({"s2": s2, "s1": s1, "dem": dem})
    assert set(out) == {"S2L2A", "S1GRD", "DEM"}
    torch.testing.assert_close(out["S2L2A"], torch.zeros(2, 12, 4, 4), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["S1GRD"][:, 0], torch.zeros(2, 4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["DEM"], torch.ones(2, 1, 4, 4))
    # other units: S2 already in DN, S1 as linear power, DEM in km
    other = E.standardise_chips({"s2": s2 * 10000, "s1": 10 ** (s1 / 10), "dem": dem / 1000},
                                units={"s2": "dn", "s1": "linear", "dem": "km"})
    for k in out:
        torch.testing.assert_close(other[k], out[k], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"must be \(B, 12"):
        E.standardise_chips({"s2": s2[:, :10]})
    with pytest.raises(ValueError, match="unknown chip key"):
        E.standardise_chips({"s3": s2})
    with pytest.raises(ValueError, match="unit 'kelvin'"):
        E.standardise_chips({"dem": dem}, units={"dem": "kelvin"})


def test_terramind_checkpoint_round_trip(tiny, tmp_path):
    chips = _std_chips(size=32)
    tiny.eval()
    with torch.no_grad():
        ref = tiny(chips)
    assert len(ref) == 12 and ref[-1].shape == (3, 4, 192)  # 12 layers, (32/16)² tokens, D = 192
    path = tmp_path / "tiny.pt"
    torch.save(tiny.state_dict(), path)
    torch.manual_seed(123)  # a different random init, overwritten by the checkpoint
    back = E.build_terramind("terramind_v1_tiny", ("s2", "s1", "dem"), ckpt_path=path).eval()
    fresh = E.build_terramind("terramind_v1_tiny", ("s2", "s1", "dem")).eval()
    with torch.no_grad():
        torch.testing.assert_close(back(chips)[-1], ref[-1], atol=0, rtol=0)
        assert not torch.allclose(fresh(chips)[-1], ref[-1])
    # wrapped under "state_dict" loads too; a wrong file is an error, not silent random weights
    torch.save({"state_dict": tiny.state_dict()}, tmp_path / "wrapped.pt")
    wrapped = E.build_terramind("terramind_v1_tiny", ("s2", "s1", "dem"), ckpt_path=tmp_path / "wrapped.pt")
    with torch.no_grad():
        torch.testing.assert_close(wrapped.eval()(chips)[-1], ref[-1], atol=0, rtol=0)
    torch.save({"foo": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no tensor matches"):
        E.build_terramind("terramind_v1_tiny", ("s2",), ckpt_path=tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="224-px checkpoint"):
        E.build_terramind("terramind_v1_tiny", ("s2", "s1", "dem"), ckpt_path=path, img_size=32)


def test_image_encoder_pools_last_layer_and_caches_features(tiny, tmp_path):
    torch.save(tiny.state_dict(), tmp_path / "tiny.pt")
    enc = E.ImageEncoder(modalities=("s2", "s1", "dem"), ckpt_path=tmp_path / "tiny.pt", out_dim=8)
    assert enc.backend == "terramind" and enc.backbone_dim == 192
    assert not any(p.requires_grad for p in enc.backbone.parameters())
    chips = _std_chips(b=5, size=8)  # 8×8 chips are resized bilinearly to 16×16
    out = enc(chips)
    assert out.shape == (5, 8)
    resized = {k: torch.nn.functional.interpolate(v, size=(16, 16), mode="bilinear", align_corners=False)
               for k, v in chips.items()}
    with torch.no_grad():
        pooled = tiny.eval()(resized)[-1].mean(dim=1)
    feats = enc.embed_backbone(chips, batch_size=2)
    torch.testing.assert_close(feats, pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc.project(feats), out, atol=1e-5, rtol=1e-5)
    # a subset of modalities works; corpus keys are accepted; gradients reach only the projection
    sub = enc({"s2": chips["S2L2A"]})
    assert sub.shape == (5, 8) and not torch.allclose(sub, out)
    sub.sum().backward()
    assert enc.proj.weight.grad is not None
    enc.train()
    assert not enc.backbone.training  # frozen backbone stays in eval mode
    # non-finite pixels do not poison the output
    bad = {k: v.clone() for k, v in chips.items()}
    bad["S2L2A"][0, 0, 0, 0] = float("nan")
    assert torch.isfinite(enc(bad)).all()
    with pytest.raises(ValueError, match="same batch size"):
        enc({"s2": chips["S2L2A"], "s1": chips["S1GRD"][:2]})
    with pytest.raises(ValueError, match="chip_size"):
        E.ImageEncoder(chip_size=20)


def test_unfrozen_image_encoder_trains_the_backbone():
    pytest.importorskip("terratorch")
    enc = E.ImageEncoder(modalities=("s2",), out_dim=4, freeze=False)
    enc(_std_chips(b=2, keys=("s2",))).sum().backward()
    grads = [p.grad for p in enc.backbone.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_cnn_stands_in_when_terratorch_is_missing(monkeypatch, caplog):
    def no_terratorch(*a, **k):
        raise ImportError("No module named 'terratorch'")

    monkeypatch.setattr(E, "build_terramind", no_terratorch)
    with caplog.at_level(logging.WARNING, logger=E.__name__), pytest.warns(RuntimeWarning, match="small CNN"):
        enc = E.ImageEncoder(modalities=("s2", "dem"), out_dim=6, freeze=False)
    assert enc.backend == "cnn" and "small CNN stands in" in caplog.text
    chips = _std_chips(b=4, size=8, keys=("s2", "dem"))
    out = enc(chips)
    assert out.shape == (4, 6)
    out.sum().backward()
    assert enc.backbone.stems["S2L2A"].weight.grad.abs().sum() > 0
    torch.testing.assert_close(enc.project(enc.embed_backbone(chips)), enc(chips))


def test_covariate_encoder_codes_and_missing_values():
    torch.manual_seed(0)
    enc = E.CovariateEncoder(3, [4, 2], out_dim=5, emb_dim=3)
    x_num = torch.randn(6, 3)
    x_cat = torch.tensor([[0, 0], [1, 2], [4, 1], [2, 0], [3, 2], [1, 1]])
    out = enc(x_num, x_cat)
    assert out.shape == (6, 5)
    x_nan = x_num.clone()
    x_nan[0, 1] = float("nan")
    out_nan = enc(x_nan, x_cat)
    assert torch.isfinite(out_nan).all() and not torch.allclose(out_nan[0], out[0])
    torch.testing.assert_close(out_nan[1:], out[1:])
    # the row with NaN equals the row with 0 there plus the missing flag — not the row with 0 alone
    x_zero = x_num.clone()
    x_zero[0, 1] = 0.0
    assert not torch.allclose(enc(x_zero, x_cat)[0], out_nan[0])
    with pytest.raises(ValueError, match=r"lie in \[0, cardinality\]"):
        enc(x_num, torch.tensor([[5, 0]] * 6))
    with pytest.raises(ValueError, match="x_num must be"):
        enc(x_num[:, :2], x_cat)
    with pytest.raises(ValueError, match="integer codes"):
        enc(x_num, x_cat.float())
    cat_only = E.CovariateEncoder(0, [3], out_dim=4)
    assert cat_only(torch.zeros(2, 0), torch.tensor([[1], [3]])).shape == (2, 4)
    with pytest.raises(ValueError, match="at least one"):
        E.CovariateEncoder(0, [])


def test_position_encoder_uses_the_sphere_and_is_continuous_across_the_dateline():
    torch.manual_seed(0)
    enc = E.PositionEncoder(out_dim=16, n_frequencies=8)
    lat = torch.tensor([10.0, 10.0, 10.0, 89.9999999, 90.0, 90.0, 10.0])
    lon = torch.tensor([180.0, -180.0, 179.99999, 0.0, 0.0, 123.0, -179.99999])
    out = enc(lat, lon)
    assert out.shape == (7, 16)
    torch.testing.assert_close(out[0], out[1], atol=1e-6, rtol=0)  # same point
    torch.testing.assert_close(out[2], out[6], atol=1e-4, rtol=0)  # 2 m apart, 360° apart in lon
    torch.testing.assert_close(out[4], out[5], atol=1e-6, rtol=0)  # every longitude at the pole
    p = enc.unit_sphere(torch.tensor([0.0, 90.0]), torch.tensor([90.0, 0.0]))
    torch.testing.assert_close(p, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    far = enc(torch.tensor([10.0, 10.0]), torch.tensor([0.0, 90.0]))
    assert (far[0] - far[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="latitudes"):
        enc(torch.tensor([95.0]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="finite"):
        enc(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_time_encoder_season_is_periodic_and_masked_when_unknown():
    torch.manual_seed(0)
    enc = E.TimeEncoder(out_dim=8)
    year = torch.tensor([2015.0, 2015.0, 2015.0, 2018.0, float("nan")])
    doy = torch.tensor([1.0, 366.25, float("nan"), 1.0, 100.0])
    f = enc.features(year, doy)
    torch.testing.assert_close(f[0], f[1], atol=1e-6, rtol=0)  # one year later = same season
    assert f[2, 2:].abs().sum() == 0  # unknown day: season zeroed, present flag 0
    assert f[0, 4] == 1 and f[2, 4] == 0
    assert f[3, 0].item() == pytest.approx(0.3) and f[4, :2].tolist() == [0.0, 1.0]
    out = enc(year, doy)
    assert out.shape == (5, 8) and torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[2])
    with pytest.raises(ValueError, match="must both be"):
        enc(year, doy[:3])
