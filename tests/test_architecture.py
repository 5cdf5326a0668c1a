"""The package's shape, checked by reading the source (ast): no module uses another module's
underscore names, no import cycle among socspec modules, and the library leaves the caller's
global state alone (no ``matplotlib.use``/pyplot, no ``torch.set_num_threads`` outside the one
scoped helper)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what the rules cover: the library, the CLI package, benchmarks and examples (tests may reach in)
SCANNED = ("socspec", "cli", "benchmarks", "examples")
# name → reason; every exception is written here with why
ALLOWED_PRIVATE: dict[str, str] = {}


def _files(dirs=SCANNED):
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def _defined_private(tree) -> set[str]:
    """Underscore names a module defines itself (functions, classes, attributes, locals, args)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store):
            out.add(n.attr)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
    return {x for x in out if x.startswith("_")}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path, root: Path = ROOT) -> list[str]:
    """``from m import _x`` and ``obj._x`` where ``_x`` is not defined in ``path`` itself
    (``self._x``/``cls._x``/``super()._x`` are the object's own business and not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _defined_private(tree)
    where = path.relative_to(root)
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            found += [f"{where}:{n.lineno}: from {'.' * n.level}{n.module or ''} import {a.name}"
                      for a in n.names if _is_private(a.name)]
        elif isinstance(n, ast.Attribute) and _is_private(n.attr) and n.attr not in own:
            base = n.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
                continue
            if n.attr in ALLOWED_PRIVATE:
                continue
            found.append(f"{where}:{n.lineno}: {ast.unparse(n)}")
    return found


def test_no_module_uses_another_modules_underscore_names():
    bad = [hit for f in _files() for hit in private_uses(f)]
    assert not bad, "cross-module use of private names (make them public or keep them in one module):\n" + \
        "\n".join(bad)


def test_the_private_name_check_catches_both_forms(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from socspec.outputs import _hidden\nimport x\nx._other()\nself._mine()\n\n\n"
                 "def _local():\n    pass\n\n\n_local()\n")
    hits = private_uses(f, root=tmp_path)
    assert any("import _hidden" in h for h in hits) and any("x._other" in h for h in hits)
    assert not any("_mine" in h or "_local" in h for h in hits)


# ------------------------------------------------------------------ import cycles
def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for p in (ROOT / "socspec").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def import_graph() -> dict[str, set[str]]:
    """module → socspec modules it imports anywhere in its body (module level or inside functions:
    a lazy import is still a dependency)."""
    mods = _modules()
    graph = {}
    for m, (p, is_pkg) in mods.items():
        deps = set()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Import):
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = m.split(".") if is_pkg else m.split(".")[:-1]
                if n.level:
                    base = base[:len(base) - (n.level - 1)]
                    pkg = ".".join(base + ([n.module] if n.module else []))
                else:
                    pkg = n.module or ""
                targets = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in mods else pkg for a in n.names]
            else:
                continue
            deps |= {t for t in targets if t in mods and t != m}
        graph[m] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_among_socspec_modules():
    graph = import_graph()
    assert "socspec.endmembers" in graph["socspec.lab.simulate"]  # the walk sees function-level imports too
    found = cycles(graph)
    assert not found, f"import cycles: {found}"


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ------------------------------------------------------------------ global state
@pytest.mark.parametrize("path", list(_files(("socspec",))), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_leaves_global_state_alone(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for n in ast.walk(tree):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in n.names] + ([n.module] if isinstance(n, ast.ImportFrom) and n.module else [])
            assert "matplotlib.pyplot" not in names, f"{path}:{n.lineno} imports pyplot (use socspec.plotting)"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            call = ast.unparse(n.func)
            assert call != "matplotlib.use", f"{path}:{n.lineno} calls matplotlib.use()"
            if call == "torch.set_num_threads":
                fn = [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                      and f.lineno <= n.lineno <= f.end_lineno]
                assert "torch_threads" in fn or path.name == "_threads.py", \
                    f"{path}:{n.lineno} sets torch's thread count outside lab.estimator.torch_threads"


# ------------------------------------------------------------------ one place for each thing
ONE_DEFINITION = {
    # name: the module that owns it (issue 10 item 1)
    "EARTH_RADIUS_KM": "socspec/kernels/neighbours.py",
    "WATER_BANDS_NM": "socspec/spectra.py",
    "REFLECTANCE_FLOOR": "socspec/spectra.py",
    "reflectance_to_absorbance": "socspec/spectra.py",
    "absorbance_to_reflectance": "socspec/spectra.py",
    "region_labels": "socspec/spectra.py",
    "window_grid": "socspec/preprocess.py",
    "r2": "socspec/metrics.py",
    "rmse": "socspec/metrics.py",
    "mae": "socspec/metrics.py",
    "regression_metrics": "socspec/metrics.py",
    "subplots": "socspec/plotting.py",
    "load_lab_model": "socspec/lab/workflow.py",
}


def test_each_shared_thing_is_defined_once():
    where: dict[str, list[str]] = {k: [] for k in ONE_DEFINITION}
    for f in _files(("socspec", "cli")):
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = []
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                names = [n.name]
            elif isinstance(n, ast.Assign):
                names = [t.id for t in n.targets if isinstance(t, ast.Name)]
            for name in names:
                if name in where:
                    where[name].append(str(f.relative_to(ROOT)))
    assert where == {k: [v] for k, v in ONE_DEFINITION.items()}


# ------------------------------------------------------------------ one CLI style
@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*_cmd.py")), ids=lambda p: p.name)
def test_cli_commands_are_module_level_functions_with_annotated_options(path):
    """No commands as closures inside register(), no ``x = typer.Option(...)`` defaults."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        defaults = fn.args.defaults + [d for d in fn.args.kw_defaults if d is not None]
        old_style = [ast.unparse(d) for d in defaults if isinstance(d, ast.Call)
                     and ast.unparse(d.func) in ("typer.Option", "typer.Argument")]
        assert not old_style, f"{path.name}:{fn.name} uses typer.Option/Argument as a default: {old_style[:2]}"
        if fn.name == "register":
            nested = [n.name for n in ast.walk(fn) if isinstance(n, ast.FunctionDef) and n is not fn]
            assert not nested, f"{path.name}: commands defined inside register(): {nested}"
