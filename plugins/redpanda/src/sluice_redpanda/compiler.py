"""Compiling a ``transform`` model into the deploy metadata of a Redpanda data transform.

The artifact's ``spec`` says what plan compares with ``GET /v1/transform``: the transform's name
(the model's), its input topic (the model's one input), its output topic (the model's topic),
the user's environment and the SHA-256 of the ``.wasm`` binary, which is read at compile time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import ProjectError
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice_redpanda.config import RedpandaConfig, TransformBlock

PLUGIN = "redpanda"
KIND = "transform"
TRANSFORM = "transform"  # the materialized: kind
BLOCK = "transform"  # the model's block
WASM_MAGIC = b"\x00asm"


def config_of(runtime: Mapping[str, Any]) -> RedpandaConfig | None:
    config = runtime.get(PLUGIN)
    return config if isinstance(config, RedpandaConfig) else None


def wasm_file(root: Path, relative: str) -> Path:
    return (root / relative).resolve()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compile_node(node: Node, context: CompileContext) -> Artifact | None:
    """The transform of a ``transform`` model; an error for a stray ``transform:`` block."""
    if node.resource_type != "model":
        return None
    block: TransformBlock | None = node.spec.extensions.get(BLOCK)
    origin = context.project.origin(node.unique_id)
    if node.materialized != TRANSFORM:
        if block is not None:
            raise ProjectError(
                f"model '{node.name}' has a transform: block but is materialized as "
                f"{node.materialized}",
                location=origin.locate(BLOCK, key=True),
                hint="remove transform:, or set materialized: transform",
            )
        return None
    if block is None:
        raise ProjectError(
            f"model '{node.name}' is materialized as transform but has no transform: block",
            location=context.location(node, "name"),
            hint="add transform: { wasm: path/to/transform.wasm }",
        )
    data = _read_wasm(node, block, context)
    inputs = [u for u in context.upstream(node) if u.resource_type in ("source", "model")]
    if len(inputs) != 1 or not inputs[0].topic:
        raise ProjectError(
            f"model '{node.name}': a Redpanda transform reads exactly one topic; its inputs are "
            + (", ".join(u.name for u in inputs) or "none"),
            location=context.location(node, "from") if node.spec.from_ else None,
            hint="name one source or topic model in from:",
        )
    if not node.topic:
        raise ProjectError(
            f"model '{node.name}': a transform needs an output topic",
            location=context.location(node, "name"),
        )
    spec: dict[str, Any] = {
        "name": node.name,
        "input_topic": inputs[0].topic,
        "output_topics": [node.topic],
        "environment": dict(sorted(block.env.items())),
        "wasm_sha256": sha256_of(data),
        "wasm_path": block.wasm,
    }
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return Artifact(PLUGIN, KIND, node.name, spec, file=f"{node.name}.json", text=text)


def _read_wasm(node: Node, block: TransformBlock, context: CompileContext) -> bytes:
    where = context.location(node, BLOCK, "wasm")
    path = wasm_file(context.project.root, block.wasm)
    if not path.is_file():
        raise ProjectError(
            f"model '{node.name}': the WebAssembly file '{block.wasm}' does not exist "
            f"(looked for {path})",
            location=where,
            hint="build it first (rpk transform build) and give its path relative to the project",
        )
    data = path.read_bytes()
    if not data.startswith(WASM_MAGIC):
        raise ProjectError(
            f"model '{node.name}': '{block.wasm}' is not a WebAssembly module (it does not start "
            "with the \\0asm magic bytes)",
            location=where,
            hint="point transform.wasm at the .wasm file that rpk transform build wrote",
        )
    return data
