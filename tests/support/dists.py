"""Only the declared dependencies: the distributions a wheel's Requires-Dist needs (their closure,
resolved against this venv's installed distributions, markers and extras evaluated), and a folder
that holds their files and nothing else (symlinks, after each one's RECORD), for a fresh venv to
import from."""

from __future__ import annotations

import csv
import email.parser
import importlib.metadata as md
import os
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def requires_dist(wheel: Path) -> list[str]:
    """The Requires-Dist lines of ``wheel``'s METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.parser.BytesParser().parsebytes(zf.read(name), headersonly=True)
    return meta.get_all("Requires-Dist") or []


def closure(requires: list[str]) -> dict[str, md.Distribution]:
    """Every installed distribution that ``requires`` needs, directly or through another, by
    canonical name. A requirement this venv does not satisfy raises (naming it)."""
    installed: dict[str, md.Distribution] = {}
    for dist in md.distributions():
        installed.setdefault(_name(dist), dist)
    needed: dict[str, set[str]] = {}  # name: the extras asked of it ("" the distribution itself)
    todo = [(Requirement(r), "") for r in requires]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        found = installed.get(name)
        if found is None or not req.specifier.contains(found.version, prereleases=True):
            version = found.version if found else "not installed"
            raise LookupError(f"{req} (needed for extra {extra!r}): {version}")
        asked = needed.setdefault(name, set())
        for new in ({"", *req.extras}) - asked:
            asked.add(new)
            todo += [(Requirement(r), new) for r in found.requires or []]
    return {name: installed[name] for name in sorted(needed)}


def link_files(dists: dict[str, md.Distribution], target: Path) -> int:
    """Make ``target`` hold the files that each distribution's RECORD lists under its site
    directory (scripts in bin/ left out), as symlinks: a top-level folder that no other installed
    distribution has files in is linked whole, any other file one by one. How many links."""
    records: dict[str, tuple[str, list[str] | None]] = {}  # name: (site directory, files)
    for dist in md.distributions():  # the first of a name on sys.path, as imports find it
        if _name(dist) not in records:
            records[_name(dist)] = (str(dist.locate_file("")), _record(dist))
    owners: dict[tuple[str, str], set[str]] = {}  # (site directory, top-level folder): owners
    for name, (site, files) in records.items():
        for top in {f.split("/", 1)[0] for f in files or [] if "/" in f}:
            owners.setdefault((site, top), set()).add(name)
    links: dict[str, str] = {}  # link (relative to target): the file or folder it points to
    for name in dists:
        site, files = records[name]
        if files is None:
            raise LookupError(f"{name} has no RECORD: its files are unknown")
        for file in files:
            top = file.split("/", 1)[0]
            if "/" in file and owners[(site, top)] == {name}:
                file = top  # the whole folder is this distribution's
            links.setdefault(file, os.path.join(site, file))
    for rel, source in links.items():
        if os.path.exists(source):  # (not a .pyc that was never written)
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, target / rel)
    return len(links)


def _name(dist: md.Distribution) -> str:
    return canonicalize_name(dist.metadata["Name"])


def _record(dist: md.Distribution) -> list[str] | None:
    """The files of RECORD under the distribution's site directory (None: no RECORD)."""
    text = dist.read_text("RECORD")
    if text is None:
        return None
    rows = (row[0] for row in csv.reader(text.splitlines()) if row)
    return [f for f in rows if not f.startswith(("../", "/"))]
