"""Remote path: corpora, region presets, simulator, spatial CV, metrics and tabular baselines."""
from .baselines import RandomForestBaseline, XGBoostBaseline, cross_validate
from .corpus import CHIP_CHANNELS, S2_BANDS, Corpus, read_chips, read_corpus
from .cv import block_ids, group_folds, make_folds, random_folds, spatial_block_folds
from .evaluate import MODELS, evaluate, register_model, write_outputs
from .graph import GraphNodes, GraphSpec, RelationGraph, build_graph, join_graph, label_features
from .metrics import ccc, interval_coverage, mae, mape, r2, regression_ece, regression_report, residual_morans_i, rmse
from .regions import PRESETS, Region, bbox_region, preset, read_geojson, resolve_region
from .simulate import SIM_REGIONS, simulate_corpus, write_corpus
from .sptgnn import SpTGNNRegressor, fit_and_save, predict_points  # torch loads only when used

__all__ = [
    "Corpus", "read_corpus", "read_chips", "CHIP_CHANNELS", "S2_BANDS",
    "Region", "PRESETS", "preset", "bbox_region", "read_geojson", "resolve_region",
    "simulate_corpus", "write_corpus", "SIM_REGIONS",
    "block_ids", "random_folds", "group_folds", "spatial_block_folds", "make_folds",
    "r2", "rmse", "mae", "mape", "ccc", "residual_morans_i", "interval_coverage",
    "regression_ece", "regression_report",
    "XGBoostBaseline", "RandomForestBaseline", "cross_validate",
    "MODELS", "register_model", "evaluate", "write_outputs",
    "GraphNodes", "GraphSpec", "RelationGraph", "build_graph", "join_graph", "label_features",
    "SpTGNNRegressor", "fit_and_save", "predict_points",
]
