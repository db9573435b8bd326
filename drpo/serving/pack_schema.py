"""The checked form of an alignment pack as `drpo chat` and `drpo serve` load it: a bad pack
(null or malformed ICL entries, K < 0, no embedding model, a null prompt, texts above the
input limits) is one PackError at load, never a traceback at the first question."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from drpo.core.config import RunConfig
from drpo.core.limits import MAX_K, MAX_PROMPT_CHARS, MAX_TEXT_CHARS, LimitError, loads_bounded
from drpo.core.messages import ICLExample
from drpo.serving.pack import PACK_FORMAT
from retrieval import embedding_model_path

MAX_PACK_BYTES = 64 * 1024 * 1024
Query = Annotated[
    str, Field(strict=True), StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)
]
Name = Annotated[str, Field(strict=True), StringConstraints(min_length=1, max_length=1000)]


class PackError(ValueError):
    """A file that is not a readable alignment pack."""


class PackExample(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: Query
    response: str = Field(strict=True, max_length=MAX_TEXT_CHARS)


class ForkOrigin(BaseModel):
    """A pack of a forked run: the parent run and the level it was forked after."""

    model_config = ConfigDict(extra="allow")
    run: Name
    stage: Literal["icl", "system_prompt"]
    level: int = Field(strict=True, ge=0)


class CheckedPack(BaseModel):
    """The fields a pack is served with; the others (provenance, usage, ...) pass through."""

    model_config = ConfigDict(extra="allow")
    format: str = Field(strict=True, pattern=f"^{PACK_FORMAT}$")
    system_prompt: str = Field(strict=True, max_length=MAX_PROMPT_CHARS)
    icl_examples: list[PackExample] = Field(max_length=100_000)
    K: int = Field(strict=True, ge=0, le=MAX_K)
    embedding_model: Name
    config: RunConfig = Field(default_factory=RunConfig)
    forked_from: ForkOrigin | None = None

    def examples(self) -> list[ICLExample]:
        return [ICLExample(query=e.query, response=e.response) for e in self.icl_examples]


def check_pack(source: str | Path | dict[str, Any]) -> CheckedPack:
    """The pack of a file (or a dict), checked; PackError names the source and the field."""
    name = "pack" if isinstance(source, dict) else str(source)
    data: Any = source
    if not isinstance(source, dict):
        try:
            if Path(source).stat().st_size > MAX_PACK_BYTES:
                raise PackError(f"alignment pack {name}: larger than {MAX_PACK_BYTES} bytes")
            data = loads_bounded(Path(source).read_text(encoding="utf-8"), name)
        except LimitError as exc:
            raise PackError(f"alignment pack {exc}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PackError(f"cannot read alignment pack {name}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        raise PackError(f"{name} is not a {PACK_FORMAT}")
    try:
        pack = CheckedPack.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise PackError(f"alignment pack {name}: {where}: {msg}") from None
    if pack.K and pack.icl_examples:
        check_embedding_model(pack.embedding_model, name)
    return pack


def check_embedding_model(model_id: str, name: str) -> None:
    """The pack's embedding model can be loaded: the bundled one, a local folder, or (offline)
    a model in the Hugging Face cache."""
    try:
        path = embedding_model_path(model_id)
    except RuntimeError as exc:
        raise PackError(f"alignment pack {name}: embedding_model: {exc}") from None
    if Path(path).is_dir():
        return
    if path.startswith(("/", ".", "~")) or os.sep + os.sep in path:
        raise PackError(f"alignment pack {name}: embedding_model {model_id!r}: no such folder")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(model_id, "config.json")
        except Exception:  # not a valid repository id either
            cached = None
        if not isinstance(cached, str):
            raise PackError(
                f"alignment pack {name}: embedding_model {model_id!r} is neither a folder nor "
                "in the Hugging Face cache (HF_HUB_OFFLINE is set)"
            )
