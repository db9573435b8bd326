"""A wheel built from the repository works from another directory with only the dependencies it
declares (issues 15 and 23).

The wheel is built from a copy of the files git knows (plus the git-ignored mermaid bundle that
scripts/fetch_mermaid.sh fetches), then installed with --no-deps into a fresh venv that sees only
the distributions its Requires-Dist needs (the closure, resolved offline against this venv's
installed distributions: tests/support/dists.py links their files into one folder, which the
venv's site adds; nothing else of this venv, the editable install included, is importable there).
Every module of the wheel must import there, and the installed `drpo` then runs in a directory
outside the checkout, without PYTHONPATH: vendored data, judge templates, URIAL and upstream
prompts and the inspector's page and mermaid must all come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dists import closure, link_files, requires_dist
from tests.support.processes import free_port, stop, wait_until_up

HERE = Path(__file__).resolve().parent
TOP = ["git", "rev-parse", "--show-toplevel"]  # the checkout, wherever this file moves
REPO = Path(subprocess.run(TOP, cwd=HERE, capture_output=True, text=True, check=True).stdout[:-1])
PACKAGES = ("drpo", "graph", "nodes", "retrieval", "evals")
VENDOR = "drpo/ui/static/vendor"  # git-ignored, fetched by scripts/fetch_mermaid.sh
SMALL = ["--icl", "1", "--icl-D", "1", "-W", "1", "-M", "1", "-D", "1", "--seeds", "1", "-K", "1"]
RUN = "w"


def _known_files(*paths: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files, as a clean clone plus new work would have."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", *paths],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted({f for f in out.splitlines() if (REPO / f).is_file()})


def _vendor_files() -> list[str]:
    folder = REPO / VENDOR
    return sorted(p.relative_to(REPO).as_posix() for p in folder.rglob("*") if p.is_file())


@dataclass
class Installed:
    wheel: Path
    python: Path
    drpo: Path
    site: Path
    work: Path  # a directory outside the checkout, where the commands run
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.drpo), *argv], cwd=self.work, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO), "the tmp dir must lie outside the checkout"
    src = root / "src"  # a fresh copy: no stale build/ of the checkout leaks into the wheel
    for name in [*_known_files(), *_vendor_files()]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run(
        [*pip, "wheel", str(src), *offline, "-w", str(dist)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = dist.glob("drpo_langgraph-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    deps = root / "deps"  # the declared dependencies and what they need: nothing else
    link_files(closure(requires_dist(wheel)), deps)
    (site / "drpo_test_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    work = root / "elsewhere"
    work.mkdir()
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONSAFEPATH": "1"}
    return Installed(wheel, python, venv / "bin" / "drpo", site, work, env)


@pytest.fixture(scope="module")
def optimized(installed: Installed) -> subprocess.CompletedProcess[str]:
    return installed.run("optimize", "--models", "fake", "--run-id", RUN, *SMALL)


def test_wheel_holds_every_module_resource_and_inspector_asset(installed: Installed) -> None:
    assert (REPO / VENDOR / "mermaid.min.js").is_file(), "run scripts/fetch_mermaid.sh first"
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {*_known_files(*PACKAGES), *_vendor_files()}
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "drpo/py.typed" in names
    assert "drpo/core/resources/NOTICE" in names and f"{VENDOR}/mermaid.min.js" in names
    nested = ("drpo", "just-eval", "upstream", "urial")
    assert all(any(n.startswith(f"drpo/core/resources/{d}/") for n in names) for d in nested)
    assert not any(n.startswith(("tests/", "benchmarks/", "scripts/")) for n in names)


def test_installed_modules_and_resources_come_from_the_wheel(installed: Installed) -> None:
    code = (
        "import json, drpo, graph, nodes, retrieval, evals, drpo.core.data as d, drpo.ui.app as a\n"
        "mods = [drpo, graph, nodes, retrieval, evals]\n"
        "import sys; assert not any('editable' in repr(f) for f in sys.meta_path), sys.meta_path\n"
        "print(json.dumps([m.__file__ for m in mods] + [str(d.RESOURCES), str(a.STATIC)]))"
    )
    out = subprocess.run(
        [str(installed.python), "-c", code], cwd=installed.work, env=installed.env,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    paths = [Path(p) for p in json.loads(out)]
    assert all(p.is_relative_to(installed.site) for p in paths), paths
    assert not any(p.resolve().is_relative_to(REPO) for p in paths), paths


# every module of the wheel's packages, imported in the venv of declared dependencies only
IMPORT_ALL = """
import importlib, importlib.util, json, pkgutil, sys
names, failed = [], {}
for top in sys.argv[1:]:
    names.append(top)
    walked = pkgutil.walk_packages(importlib.import_module(top).__path__, top + ".")
    names += [m.name for m in walked if not m.name.endswith(".__main__")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
outside = [m for m in ("pytest", "selenium", "langgraph_api", "hypothesis", "tests")
           if importlib.util.find_spec(m) is not None]
print(json.dumps({"modules": names, "failed": failed, "outside": outside}))
"""


def test_every_module_imports_with_only_the_declared_dependencies(installed: Installed) -> None:
    out = subprocess.run(
        [str(installed.python), "-c", IMPORT_ALL, *PACKAGES], cwd=installed.work,
        env=installed.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout)
    assert seen["failed"] == {}, "a module needs an undeclared dependency: " + str(seen["failed"])
    # the test venv's other packages (test-only ones among them) are out of reach
    assert seen["outside"] == []
    modules = {*_known_files(*PACKAGES)}
    wanted = {m.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for m in modules
              if m.endswith(".py") and not m.endswith("__main__.py")}  # fmt: skip
    assert wanted <= set(seen["modules"]), sorted(wanted - set(seen["modules"]))


def test_optimize_and_show_from_another_directory(
    installed: Installed, optimized: subprocess.CompletedProcess[str]
) -> None:
    assert optimized.returncode == 0, optimized.stderr[-2000:]
    result = json.loads((installed.work / "runs" / RUN / "result.json").read_text())
    assert result["status"] == "finished"
    shown = installed.run("show", RUN, "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    summary = json.loads(shown.stdout)
    assert summary["status"] == "finished"
    assert isinstance(summary["best_system_prompt"], str) and summary["best_system_prompt"].strip()
    assert summary["best_system_prompt"] in optimized.stdout
    assert len(summary["icl_examples"]) == 1  # drawn from the wheel's icl_base.json


def test_export_and_eval_read_the_benchmark_from_the_wheel(
    installed: Installed, optimized: subprocess.CompletedProcess[str]
) -> None:
    assert optimized.returncode == 0, optimized.stderr[-2000:]
    exported = installed.run("export", RUN, "-o", "pack.json")
    assert exported.returncode == 0, exported.stderr[-2000:]
    methods = "base,urial:inst_only,upstream:llama3-8b@K=0,drpo-no-icl"
    argv = ["--base", "fake", "--judge", "fake", "--methods", methods, "--pack", "pack.json",
            "--allow-self-judge"]  # the fake judge also optimized the pack  # fmt: skip
    # one regular and one safety item of the vendored dev subset: both judge templates
    evaluated = installed.run("eval", *argv, "--ids", "15,808", "--eval-id", "e")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads((installed.work / "runs" / "evals" / "e" / "result.json").read_text())
    assert [m["name"] for m in result["methods"]] == methods.split(",")
    assert {i["id"] for i in result["items"]} == {15, 808}
    for method in result["methods"]:
        assert method["summary"]["n_regular"] == method["summary"]["n_safety"] == 1
        assert method["summary"]["parse_failures"] == 0


@pytest.fixture()
def inspector(installed: Installed, optimized: object) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(installed.drpo), "ui", "--port", str(port)], cwd=installed.work, env=installed.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/ui"
    try:
        wait_until_up(f"{base}/api/runs", proc, 120, "the inspector")
        yield base
    finally:
        stop(proc, 20)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return bytes(response.read())


def test_inspector_serves_its_page_and_mermaid_from_the_wheel(inspector: str) -> None:
    assert b"static/vendor/mermaid.min.js" in _get(f"{inspector}/")
    for name in ("app.js", "style.css", "vendor/mermaid.min.js"):
        assert _get(f"{inspector}/static/{name}") == (REPO / "drpo/ui/static" / name).read_bytes()
    assert RUN in json.dumps(json.loads(_get(f"{inspector}/api/runs")))
    diagrams = json.loads(_get(f"{inspector}/api/graph"))  # what `drpo graph` prints
    assert "graph TD;" in diagrams["run"] and "__start__" in diagrams["run"]
