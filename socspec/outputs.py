"""Writing outputs without losing what the user had.

* :func:`prepare_run_dir` refuses to reuse an existing non-empty directory unless ``force``.
* :func:`atomic_write` writes to a temporary name beside the target and renames it when complete,
  so an interrupted run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import OutputExistsError


def _umask_mode() -> int:
    # mkstemp creates 0600 files; outputs should get the permissions any new file would.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _mkstemp_beside(path: Path, prefix: str, suffix: str) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except PermissionError as exc:  # name the file the user asked for, not our hidden temporary
        raise PermissionError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    os.chmod(tmp, _umask_mode())
    return tmp


def _replace(tmp, path: Path) -> None:
    """``os.replace`` whose errors name the target, not the temporary file."""
    try:
        os.replace(tmp, path)
    except IsADirectoryError:
        raise OutputExistsError("is a directory, not a file", path=path,
                                hint="give a file name, e.g. predictions.csv (--out on the command line)") from None
    except PermissionError as exc:
        raise PermissionError(exc.errno, exc.strerror, str(path)) from None


def prepare_run_dir(path, force: bool = False) -> Path:
    """Create ``path`` as an output directory; an existing non-empty one needs ``force=True``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError("exists and is not a directory", path=path,
                                hint="choose another output path (--out on the command line)")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputExistsError("output directory already exists and is not empty", path=path,
                                hint="choose another output directory, or pass force=True (--force on the command "
                                     "line) to write into it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_output_file(path, force: bool = False, inputs=()) -> Path:
    """Check an output *file* can be written: not a directory, not one of ``inputs`` and not inside
    a model folder (never, even with ``force``), not an existing file unless ``force``."""
    path = Path(path)
    for src in inputs:
        src = Path(src)
        if path.resolve() == src.resolve() or (path.exists() and src.exists() and os.path.samefile(path, src)):
            raise OutputExistsError(f"--out is the input file {src}", path=path,
                                    hint="write the output to another file; socspec never replaces its input")
    if path.is_dir():
        raise OutputExistsError("is a directory, not a file", path=path,
                                hint="give a file name, e.g. predictions.csv (--out on the command line)")
    if (path.parent / "manifest.json").is_file():  # socspec.runs.MANIFEST_NAME: a model folder
        raise OutputExistsError("is inside a model folder, which socspec never writes into", path=path,
                                hint="write the output beside the model folder instead")
    if path.exists() and not force:
        raise OutputExistsError("output file already exists", path=path,
                                hint="choose another output file, or pass force=True (--force on the command line) "
                                     "to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """``with atomic_write(p) as f: ...`` — the file appears under ``p`` only when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _mkstemp_beside(path, f".{path.name}.", ".part")
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to hand to a library writer (``df.to_csv(tmp)``, ``fig.savefig(tmp)``,
    ``torch.save(obj, tmp)``); it is renamed to ``path`` when the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _mkstemp_beside(path, f".{path.stem}.", path.suffix)
    try:
        yield Path(tmp)
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def jsonable(obj):
    """``obj`` with numpy scalars/arrays, paths and non-finite floats made JSON-safe (recursively)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN/inf
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path, obj, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (numpy scalars/arrays converted, NaN → null)."""
    with atomic_write(path) as fh:
        json.dump(jsonable(obj), fh, indent=indent)
        fh.write("\n")
    return Path(path)
