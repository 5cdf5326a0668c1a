"""Numba kernels: Moran's I, spherical neighbour search, graph builders; torch Moran penalty.

Edge convention everywhere (torch_geometric "source_to_target"): ``edge_index[0]`` = source /
neighbour j, ``edge_index[1]`` = target / focal node i.
"""
from .moran import LocalMoranResult, MoranResult, local_morans_i, morans_i
from .neighbours import EARTH_RADIUS_KM, haversine_km, haversine_knn, haversine_radius, latlon_to_unit, validate_latlon
from .weights import SpatialWeights, distance_band_weights, knn_weights

__all__ = [
    "EARTH_RADIUS_KM", "SpatialWeights", "knn_weights", "distance_band_weights", "MoranResult",
    "LocalMoranResult", "morans_i", "local_morans_i", "haversine_knn", "haversine_radius",
    "haversine_km", "latlon_to_unit", "validate_latlon",
]
from .graph import elevation_edges, reliability_from_error, spatial_edges, spectral_edges, spectral_knn  # noqa: E402
from .torch_moran import moran_i_torch, moran_penalty, row_standardised_edge_weight  # noqa: E402

__all__ += ["spatial_edges", "elevation_edges", "spectral_edges", "spectral_knn", "reliability_from_error",
            "moran_i_torch", "moran_penalty", "row_standardised_edge_weight"]
