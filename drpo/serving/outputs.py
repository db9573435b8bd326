"""Where `drpo export` may write: never into a run's folder or onto the run dir's own state
files, never over an existing file unless forced, never into a folder it would have to make."""

from __future__ import annotations

from pathlib import Path

from drpo.core.files import create_exclusive, write_atomic
from drpo.runtime.runner import Run, RunError

# files directly in RUN_DIR that are state (the shared store, the call cache and their SQLite
# companions); every folder of RUN_DIR is a run's (or its index cache, a fork being built)
_STATE_MARKS = (".sqlite", ".lock")
_RUN_FILES = ("run.json", "checkpoints.sqlite")  # a folder with these is a run's


def check_output(out: Path, run: Run, force: bool) -> None:
    """RunError (one line, before anything is read or written) if ``-o out`` is refused."""
    if out.is_dir():
        raise RunError(f"-o {out}: is a directory; give a file name (e.g. {out}/pack.json)")
    target, root = out.resolve(), run.root.resolve()
    if target.is_relative_to(root) and target != root:
        inner = target.relative_to(root).parts
        if len(inner) > 1:
            raise RunError(
                f"-o {out}: is inside {run.root / inner[0]}, a folder of the run dir "
                f"{run.root}; write the pack outside it"
            )
        if inner[0].startswith(".") or any(mark in inner[0] for mark in _STATE_MARKS):
            raise RunError(f"-o {out}: is a state file of the run dir {run.root}; choose another")
    if any((target.parent / name).exists() for name in _RUN_FILES):
        raise RunError(f"-o {out}: is inside a run's folder ({out.parent}); write it outside")
    cache = run.meta()["context"].get("llm_cache")
    if (
        cache not in (None, "off")
        and target.name.startswith(Path(cache).name)
        and (target.parent == Path(cache).resolve().parent)
    ):
        raise RunError(f"-o {out}: is the LLM-call cache of run {run.id!r}; choose another")
    if not target.parent.is_dir():
        raise RunError(f"-o {out}: the folder {out.parent} does not exist; create it first")
    if (out.exists() or out.is_symlink()) and not force:
        raise RunError(f"-o {out}: the file exists; use --force to replace it")


def write_output(out: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``out`` atomically: replace it (``force``) or create it exclusively (a
    file that appeared since ``check_output`` is never replaced)."""
    try:
        if force:
            write_atomic(out, text)
        else:
            create_exclusive(out, text)
    except FileExistsError:
        raise RunError(f"-o {out}: the file exists; use --force to replace it") from None
    except OSError as exc:
        raise RunError(f"-o {out}: cannot be written ({exc.strerror or exc})") from None
