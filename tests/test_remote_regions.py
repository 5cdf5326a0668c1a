"""Region presets, bounding boxes and GeoJSON polygons select the right points."""
import json

import numpy as np
import pytest

from socspec.errors import SocspecInputError
from socspec.remote.regions import bbox_region, preset, read_geojson, resolve_region

# (lat, lon, in europe, in africa)
PLACES = {
    "Paris": (48.85, 2.35, True, False), "Madrid": (40.4, -3.7, True, False),
    "Helsinki": (60.17, 24.94, True, False), "Reykjavik": (64.1, -21.9, True, False),
    "Valletta": (35.9, 14.5, True, False), "Nicosia": (35.17, 33.36, True, False),
    "Heraklion": (35.34, 25.13, True, False), "Las Palmas": (28.1, -15.4, True, True),
    "Istanbul (Europe side)": (41.01, 28.97, True, False),
    "Tunis": (36.8, 10.18, False, True), "Algiers": (36.77, 3.06, False, True),
    "Cairo": (30.04, 31.24, False, True), "Nairobi": (-1.29, 36.82, False, True),
    "Cape Town": (-33.92, 18.42, False, True), "Antananarivo": (-18.9, 47.5, False, True),
    "Ankara": (39.93, 32.86, False, False), "Riyadh": (24.7, 46.7, False, False),
    "Beirut": (33.9, 35.5, False, False), "New York": (40.7, -74.0, False, False),
}


@pytest.mark.parametrize("name", sorted(PLACES))
def test_presets_place_known_cities(name):
    lat, lon, in_eu, in_af = PLACES[name]
    assert preset("europe").contains([lat], [lon])[0] == in_eu
    assert preset("africa").contains([lat], [lon])[0] == in_af
    assert preset("global").contains([lat], [lon])[0]


def test_bbox_inside_outside_and_edges():
    reg = bbox_region("-10,35,30,60")
    lat = np.array([40.0, 34.9, 60.1, 50.0, 50.0])
    lon = np.array([0.0, 0.0, 0.0, -10.5, 29.9])
    assert reg.contains(lat, lon).tolist() == [True, False, False, False, True]
    assert reg.bbox == (-10.0, 35.0, 30.0, 60.0)


@pytest.mark.parametrize("bad", ["1,2,3", "10,0,0,5", "a,b,c,d", "0,-95,10,10"])
def test_bad_bbox_is_a_user_error(bad):
    with pytest.raises(SocspecInputError, match="bbox"):
        bbox_region(bad)


def test_geojson_polygon_with_hole_and_multipolygon(tmp_path):
    outer = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    hole = [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
    far = [[[20, 20], [22, 20], [22, 22], [20, 22], [20, 20]]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "MultiPolygon", "coordinates": [[outer, hole], far]}}]}
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(fc))
    reg = read_geojson(path)
    # (lat, lon): inside ring, inside hole, outside, inside 2nd polygon, concave-free edge cases
    lat = np.array([2.0, 5.0, 12.0, 21.0, 8.0])
    lon = np.array([2.0, 5.0, 5.0, 21.0, 5.0])
    assert reg.contains(lat, lon).tolist() == [True, False, False, True, True]
    assert resolve_region(None, polygon=path).contains([5.0], [5.0])[0] == False  # noqa: E712


def test_concave_polygon_matches_shapely_if_available(rng):
    pytest.importorskip("shapely")
    from shapely import contains_xy
    from shapely.geometry import Polygon

    ring = np.array([[0, 0], [8, 0], [8, 8], [5, 8], [5, 3], [3, 3], [3, 8], [0, 8]], float)
    from socspec.remote.regions import Region

    reg = Region("u", [[ring]])
    lon, lat = rng.uniform(-1, 9, 2000), rng.uniform(-1, 9, 2000)
    inside = reg.contains(lat, lon)
    assert np.array_equal(inside, contains_xy(Polygon(ring), lon, lat))
    # the notch (3 < lon < 5, lat > 3) is outside, the floor below it inside: the test is not vacuous
    notch = (lon > 3.2) & (lon < 4.8) & (lat > 3.2) & (lat < 7.8)
    floor = (lon > 0.2) & (lon < 7.8) & (lat > 0.2) & (lat < 2.8)
    assert notch.any() and not inside[notch].any() and inside[floor].all()


def test_bad_geojson_names_file(tmp_path):
    p = tmp_path / "line.geojson"
    p.write_text(json.dumps({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}))
    with pytest.raises(SocspecInputError, match="line.geojson.*no area"):
        read_geojson(p)
    q = tmp_path / "swapped.geojson"
    q.write_text(json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [0, 200], [5, 5]]]}))
    with pytest.raises(SocspecInputError, match="lon, lat"):
        read_geojson(q)


def test_unknown_preset():
    with pytest.raises(SocspecInputError, match="asia"):
        preset("asia")
