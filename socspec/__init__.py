"""socspec — soil organic carbon from spectra (lab Vis-NIR and remote sensing)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import OutputExistsError, SocspecInputError
from .spectra import SpectralTable
from .units import CANONICAL_SOC_UNIT, convert_soc

try:  # the one place the version is written is pyproject.toml
    __version__ = version("socspec")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "SpectralTable", "SocspecInputError", "OutputExistsError", "CANONICAL_SOC_UNIT", "convert_soc",
    "read_spectra", "EndmemberLibrary",
]


def __getattr__(name):
    # Lazy so that `import socspec` stays fast and a lab-only install never imports torch_geometric.
    if name == "read_spectra":
        from .io import read_spectra
        return read_spectra
    if name == "EndmemberLibrary":
        from .endmembers import EndmemberLibrary
        return EndmemberLibrary
    raise AttributeError(f"module 'socspec' has no attribute {name!r}")
