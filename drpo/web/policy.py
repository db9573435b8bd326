"""What a request to a local server may name. A request never imports code or names a file:

- a **judge node** is looked up among the judges the server knows: the built-ins, those named
  when it was started, and the one the run already uses (typed by its user on the command line);
- a **model spec** may not carry a file path (``fake:log=``, ``fake:events=``, ``hf:PATH``) nor a
  server URL the user has not named (``openai-compatible:M@URL``), unless it is a spec the server
  was started with or the run already uses: another provider's model (``openai:gpt-4o``), the
  local models, or another model on a server the run already talks to all work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from drpo.llm.backends.registry import ModelSpec, SpecError, parse_spec
from drpo.llm.backends.specs import FAKE_FILE_OPTIONS
from drpo.llm.judges import JUDGES, resolve_judge
from drpo.web.guard import Refusal


def _urls(specs: Iterable[str]) -> set[str]:
    urls = set()
    for spec in specs:
        try:
            parsed = parse_spec(spec)
        except SpecError:
            continue
        if parsed.base_url:
            urls.add(parsed.base_url.rstrip("/"))
    return urls


@dataclass(frozen=True)
class RequestPolicy:
    """The judges and model specs named when the server was started (trusted, like the CLI)."""

    judges: frozenset[str] = field(default_factory=frozenset)
    models: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, judges: Iterable[str] = (), models: Iterable[str] = ()) -> RequestPolicy:
        """Checked at start: a judge that does not import or a spec that does not parse is an
        error then, not at the first request."""
        for name in judges:
            resolve_judge(name)
        for spec in models:
            parse_spec(spec)
        return cls(frozenset(judges), frozenset(models))

    def judge_node(self, name: str, run_uses: Iterable[str] = ()) -> str:
        if name in JUDGES or name in self.judges or name in set(run_uses):
            return name
        known = sorted({*JUDGES, *self.judges})
        raise Refusal(
            400,
            f"judge node {name!r} is not one this server knows ({', '.join(known)}); "
            "name others when starting it (--judge-node)",
        )

    def model_spec(self, spec: str, run_uses: Iterable[str] = ()) -> ModelSpec:
        """The parsed spec, or a ``Refusal`` when it names a file or an unknown server."""
        parsed = parse_spec(spec)  # a SpecError (400) when it does not parse
        trusted = {*self.models, *run_uses}
        if spec in trusted:
            return parsed
        if parsed.provider == "fake" and set(parsed.options) & set(FAKE_FILE_OPTIONS):
            raise Refusal(400, f"model spec {spec!r}: a request may not name a file")
        if parsed.provider == "hf":
            raise Refusal(400, f"model spec {spec!r}: a request may not name a local model path")
        url = (parsed.base_url or "").rstrip("/")
        if url and url not in _urls(trusted):
            raise Refusal(
                400,
                f"model spec {spec!r}: {url} is not a server this run or this server was "
                "started with (--model)",
            )
        return parsed
