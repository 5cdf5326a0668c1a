"""Run directories and model folders: the rules every socspec writer and loader follows.

Shared by the lab path (``fit-lab``), the remote path (``fit-remote``) and the SpTGNN, so that a run
directory and a model folder mean the same thing everywhere.

**One writer per run directory.** :class:`RunDir` takes an exclusive ``fcntl.flock`` on
``PARENT/.NAME.socspec.lock`` (beside the run directory, so the lock survives the directory being
swapped) before looking at ``NAME``; a second writer fails at once with :class:`RunLockedError`.

**Nothing the user had is lost.**

* a new ``--out`` is created and written in place (a killed run keeps its checkpoints, so
  ``--resume`` can continue it); when the run fails before it has a checkpoint, the directory it
  created is removed, so a failed run leaves no empty ``--out``;
* an existing non-empty ``--out`` needs ``force=True``; the new run is then built in a hidden sibling
  ``.NAME.socspec-new-XXXX`` and swapped in as a whole when it completes (``renameat2`` with
  ``RENAME_EXCHANGE`` where the kernel has it, else two renames) — a failed run leaves the old one
  intact, and no stale file of the old run (plots, other seeds' checkpoints) survives a success;
* ``resume=True`` continues in place, but only a directory holding a checkpoint
  (``checkpoints/**/*.pt``); a non-empty directory without one is refused unless ``force=True``
  (then it is replaced as above). Whether the checkpoint belongs to *this* run is
  :func:`run_identity` / :func:`check_identity`.

**Model folders** carry ``manifest.json``: ``format`` (e.g. ``socspec-lab-model``),
``format_version``, the socspec version that wrote it, and the sha256 and size of every file.
:func:`verify_model_folder` refuses, with one line (:class:`ModelFolderError`), a folder that has no
manifest, another format, a newer format version, or a file that is missing, truncated or modified.
Weights are loaded with ``torch.load(weights_only=True)`` (:func:`load_torch`): loading never runs
code.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from .errors import OutputExistsError, SocspecInputError

LOCK_SUFFIX = ".socspec.lock"
CHECKPOINTS_DIR = "checkpoints"
MANIFEST_NAME = "manifest.json"
_STAGING_TAG = ".socspec-new-"
_OLD_TAG = ".socspec-old-"


class RunLockedError(SocspecInputError):
    """Another socspec process is writing the same run directory."""


class ModelFolderError(SocspecInputError):
    """A model folder that is not what it claims to be (missing, foreign, damaged, too new)."""


class ResumeMismatchError(SocspecInputError):
    """``--resume`` found a checkpoint of another run (other data, configuration or grid)."""


# ---------------------------------------------------------------------------- lock
def lock_path(run_dir) -> Path:
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def run_lock(run_dir):
    """Exclusive, non-blocking lock on ``run_dir`` (held for the ``with`` block).

    Raises :class:`RunLockedError` at once when another process holds it. The lock file is removed
    on release; a writer that opened the file just before that re-checks the inode after locking,
    so two writers can never both hold the lock of one path.
    """
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as exc:  # name the user's folder, not our hidden lock file
            raise PermissionError(exc.errno, exc.strerror, str(path.parent)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError("another socspec run is writing this directory", path=Path(run_dir),
                                     hint="wait for it to finish, or choose another --out") from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file while we were opening it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


# ---------------------------------------------------------------------------- swap
def _renameat2_exchange():
    # the stdlib has no atomic directory swap; Linux's renameat2(RENAME_EXCHANGE) is one
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def swap_dirs(new: Path, final: Path) -> None:
    """Put directory ``new`` at ``final`` and delete what was there, atomically where possible."""
    new, final = Path(new), Path(final)
    if not final.exists():
        os.rename(new, final)
        return
    fn = _renameat2_exchange()
    at_fdcwd, rename_exchange = -100, 2
    if fn is not None and fn(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(final), rename_exchange) == 0:
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old run
        return
    old = final.parent / f".{final.name}{_OLD_TAG}{secrets.token_hex(4)}"
    os.rename(final, old)
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- run dir
def has_checkpoint(run_dir) -> bool:
    d = Path(run_dir) / CHECKPOINTS_DIR
    return d.is_dir() and any(p.is_file() for p in d.rglob("*.pt"))


def _listing(path: Path, k: int = 4) -> str:
    names = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    more = f", … ({len(names)} in all)" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def _inside(child, parent: Path) -> bool:
    try:
        Path(child).resolve().relative_to(parent.resolve())
        return True
    except (ValueError, OSError):
        return False


def check_run_dir(path, *, force: bool = False, resume: bool = False, inputs=()) -> str:
    """What :class:`RunDir` would do with ``path`` — ``"new"``, ``"resume"`` or ``"replace"`` — or
    the :class:`OutputExistsError` it would raise; creates nothing (refuse early, before slow work).
    ``inputs``: files or folders the run reads (None and non-paths ignored); a directory holding
    one of them is never replaced, not even with ``force``."""
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise OutputExistsError("exists and is not a directory", path=final, hint="choose another --out")
    nonempty = final.is_dir() and any(final.iterdir())
    if not nonempty:
        return "new"
    if resume and has_checkpoint(final):
        return "resume"
    if resume and not force:
        raise OutputExistsError(
            f"--resume: no checkpoint to continue here (it holds {_listing(final)})", path=final,
            hint="choose another --out, or pass --force to replace the directory with a new run")
    if not force:
        raise OutputExistsError("output directory already exists and is not empty", path=final,
                                hint="choose another --out, or pass --force to replace it")
    for src in inputs:
        if src is not None and isinstance(src, (str, os.PathLike)) and Path(src).exists() and _inside(src, final):
            raise OutputExistsError(f"--force would replace this directory, which holds the input {src}",
                                    path=final, hint="choose another --out; socspec never deletes its inputs")
    return "replace"


class RunDir:
    """``with RunDir(out, force=..., resume=...) as run:`` — write the run under ``run.path``.

    ``inputs``: what the run reads (see :func:`check_run_dir`). Attributes: ``final`` (the
    directory the user named), ``path`` (where to write now: ``final``,
    or a hidden sibling staging directory when an existing run is being replaced), ``resuming``
    (True when continuing a checkpoint in place), ``replacing`` (True when staging).
    See the module docstring for the rules.
    """

    def __init__(self, path, *, force: bool = False, resume: bool = False, inputs=()):
        self.final = Path(path)
        self.force = bool(force)
        self.resume = bool(resume)
        self.inputs = tuple(inputs)
        self.path: Path | None = None
        self.resuming = False
        self.replacing = False
        self._created = False
        self._lock = None

    def _check_target(self):
        return check_run_dir(self.final, force=self.force, resume=self.resume, inputs=self.inputs)

    def __enter__(self) -> "RunDir":
        self._lock = run_lock(self.final)
        self._lock.__enter__()
        try:
            mode = self._check_target()
            if mode == "replace":
                self.replacing = True
                self.path = self.final.parent / f".{self.final.name}{_STAGING_TAG}{secrets.token_hex(4)}"
                self.path.mkdir()
            else:
                self.resuming = mode == "resume"
                self._created = not self.final.exists()
                self.final.mkdir(parents=True, exist_ok=True)
                self.path = self.final
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                if self.replacing:
                    swap_dirs(self.path, self.final)
                    self.path = self.final
            elif self.replacing:
                shutil.rmtree(self.path, ignore_errors=True)  # the old run stays as it was
            elif self._created and not has_checkpoint(self.final):
                shutil.rmtree(self.final, ignore_errors=True)  # a failed run leaves no --out behind
        finally:
            self._lock.__exit__(None, None, None)
        return False


# ---------------------------------------------------------------------------- identity
def _hash_update(h, obj):
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        a = np.ascontiguousarray(np.asarray(obj))
        if a.dtype == object:
            h.update(json.dumps([str(v) for v in a.ravel()]).encode())
        else:
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _hash_update(h, v)
        h.update(b"]")
    elif isinstance(obj, bytes):
        h.update(obj)
    else:
        h.update(json.dumps(obj, sort_keys=True, default=str).encode())


def content_hash(*parts) -> str:
    """sha256 (hex) of numpy arrays, lists and JSON-able values, independent of memory layout."""
    h = hashlib.sha256()
    for p in parts:
        _hash_update(h, p)
    return h.hexdigest()


def run_identity(*, data, config: dict, grid) -> dict:
    """What makes a checkpoint *this* run's: ``{"data": sha256, "config": {...}, "grid": sha256,
    "grid_text": "400–2440 nm, 147 bands"}``. ``data`` is anything :func:`content_hash` takes
    (e.g. the model inputs and targets); ``config`` a JSON-able dict of the settings that change
    what is trained (not epochs, progress or device); ``grid`` the wavelength grid (nm) or any array
    fixing the input layout. Store it with the checkpoint; compare with :func:`check_identity`."""
    g = np.asarray(grid, dtype=np.float64).ravel()
    text = f"{g[0]:g}–{g[-1]:g} nm, {g.size} bands" if g.size else "empty grid"
    return {"data": content_hash(data), "config": json.loads(json.dumps(config, sort_keys=True, default=str)),
            "grid": content_hash(g), "grid_text": text}


def identity_differences(saved: dict | None, now: dict) -> list[str]:
    """Human-readable list of what differs between two :func:`run_identity` dicts."""
    if not isinstance(saved, dict):
        return ["the checkpoint carries no run identity (written by an older socspec)"]
    out = []
    if saved.get("data") != now.get("data"):
        out.append("other training data (content hash differs)")
    if saved.get("grid") != now.get("grid"):
        out.append(f"wavelength grid {saved.get('grid_text')} vs now {now.get('grid_text')}")
    a, b = saved.get("config") or {}, now.get("config") or {}
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k} {a.get(k)!r} vs now {b.get(k)!r}")
    return out


def check_identity(saved: dict | None, now: dict, *, path=None) -> None:
    """Raise :class:`ResumeMismatchError` naming what differs, unless the identities match."""
    diff = identity_differences(saved, now)
    if diff:
        raise ResumeMismatchError(
            "--resume: the checkpoint belongs to another run: " + "; ".join(diff), path=path,
            hint="resume with the same data and options, or start over without --resume (--force "
                 "replaces the directory)")


# ---------------------------------------------------------------------------- manifest
def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path):
    for p in sorted(folder.rglob("*")):
        parts = p.relative_to(folder).parts
        rel = "/".join(parts)
        if p.is_file() and rel != MANIFEST_NAME and not any(part.startswith(".") for part in parts):
            yield rel, p  # hidden files (atomic-write temporaries) are not part of the model


def write_manifest(folder, format: str, format_version: int, extra: dict | None = None) -> Path:
    """Write ``folder/manifest.json`` listing every (non-hidden) file with its sha256 and size.
    Call it last, after every file of the model folder is written."""
    from . import __version__
    from .outputs import write_json

    folder = Path(folder)
    files = {rel: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for rel, p in _files(folder)}
    man = {"format": str(format), "format_version": int(format_version), "socspec_version": __version__,
           "files": files}
    if extra:
        man.update(extra)
    return write_json(folder / MANIFEST_NAME, man)


def verify_model_folder(folder, format: str, format_version: int) -> dict:
    """Check ``folder`` is a ``format`` model folder this socspec reads and that every file in its
    manifest is present and unchanged; return the manifest. Raises :class:`ModelFolderError`."""
    folder = Path(folder)
    hint_fit = "pass a model folder written by socspec (e.g. the model/ folder of a fit run)"
    if not folder.is_dir():
        raise ModelFolderError("model folder not found", path=folder, hint=hint_fit)
    mpath = folder / MANIFEST_NAME
    if not mpath.is_file():
        raise ModelFolderError(f"not a socspec model folder ({MANIFEST_NAME} missing)", path=folder,
                               hint=hint_fit + "; folders written before socspec 0.1 manifests must be refitted")
    try:
        man = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFolderError(f"{MANIFEST_NAME} is not valid JSON ({exc.__class__.__name__})", path=folder,
                               hint="the folder is damaged; copy it again from its source") from None
    if not isinstance(man, dict) or not isinstance(man.get("files"), dict):
        raise ModelFolderError(f"{MANIFEST_NAME} is not a socspec manifest", path=folder, hint=hint_fit)
    got = man.get("format")
    if got != format:
        raise ModelFolderError(f"is a {got!r} folder, not {format!r}", path=folder, hint=hint_fit)
    ver = man.get("format_version")
    if not isinstance(ver, int) or ver < 1:
        raise ModelFolderError(f"format_version {ver!r} is not valid", path=folder, hint=hint_fit)
    if ver > format_version:
        raise ModelFolderError(
            f"format version {ver} (socspec {man.get('socspec_version')}) is newer than this socspec reads "
            f"({format_version})", path=folder, hint="upgrade socspec to load it")
    if ver < format_version:
        raise ModelFolderError(
            f"format version {ver} (socspec {man.get('socspec_version')}) is older than this socspec reads "
            f"({format_version})", path=folder, hint="refit the model with this socspec")
    for rel, info in man["files"].items():
        p = folder / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise ModelFolderError(f"{MANIFEST_NAME} lists a path outside the folder: {rel!r}", path=folder)
        if not p.is_file():
            raise ModelFolderError(f"{rel} is missing", path=folder,
                                   hint="the folder is incomplete; copy it again from its source")
        size = p.stat().st_size
        if not isinstance(info, dict) or size != info.get("bytes") or sha256_file(p) != info.get("sha256"):
            what = "empty" if size == 0 else ("truncated or modified" if isinstance(info, dict) and
                                               isinstance(info.get("bytes"), int) and size < info["bytes"]
                                               else "modified")
            raise ModelFolderError(f"{rel} is damaged ({what}: its checksum does not match {MANIFEST_NAME})",
                                   path=folder, hint="copy the folder again from its source, or refit")
    return man


def read_json(path, *, what: str | None = None):
    """JSON from a model/run file; any decoding problem becomes a one-line :class:`ModelFolderError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"{what or path.name} is missing", path=path.parent) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFolderError(f"{what or path.name} is not valid JSON ({exc})", path=path.parent,
                               hint="the folder is damaged; copy it again or refit") from None


def load_torch(path, map_location=None, *, what: str = "file"):
    """``torch.load(path, weights_only=True)``: tensors, dicts, lists, numbers and strings only —
    a pickle that would run code is refused. Any failure becomes one :class:`SocspecInputError`
    saying what is wrong (empty, not a torch file, truncated, or holding code)."""
    import pickle
    import warnings

    import torch

    path = Path(path)
    hint = "only load checkpoints and model folders from sources you trust; refit or copy it again"
    try:
        if path.stat().st_size == 0:
            raise SocspecInputError(f"{what} is empty", path=path, hint=hint)
        with warnings.catch_warnings():  # torch's note on pickle protocols is not the user's business
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except SocspecInputError:
        raise
    except FileNotFoundError:
        raise SocspecInputError(f"{what} not found", path=path) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, KeyError, IndexError, OSError) as exc:
        text = str(exc)
        with open(path, "rb") as fh:
            head = fh.read(2)
        if "invalid load key" in text or head[:1] not in (b"P", b"\x80"):  # zip archive or pickle PROTO
            why = "it is not a torch file"
        elif "Unsupported operand" in text:
            why = "it is a plain pickle, not a torch weights file (unpickling it could run code)"
        elif "Weights only load failed" in text or isinstance(exc, pickle.UnpicklingError):
            why = "it holds objects other than tensors and plain data (loading it could run code)"
        elif "zip archive" in text or isinstance(exc, EOFError):
            why = "it is truncated or damaged"
        else:
            why = (text.strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise SocspecInputError(f"{what} cannot be loaded safely: {why}", path=path, hint=hint) from None
