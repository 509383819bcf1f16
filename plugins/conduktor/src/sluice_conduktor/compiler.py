"""Compiling models into Gateway interceptors: SQL topics for ``virtual_topic`` models and
field-level masking for models that declare ``mask:``.

An artifact's ``spec`` is exactly the body of ``PUT /gateway/v2/interceptor`` (Gateway API v2),
so plan compares it with what ``GET /gateway/v2/interceptor`` returns and apply sends it as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from sluice.compiler import CompileContext
from sluice.errors import ProjectError
from sluice.naming import job_name, job_prefix
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import MaskRule, Model
from sluice_conduktor import gateway_sql
from sluice_conduktor.config import ConduktorConfig

PLUGIN = "conduktor"
KIND = "interceptor"
VIRTUAL_TOPIC = "virtual_topic"
SQL_TOPIC_CLASS = "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin"
MASKING_CLASS = "io.conduktor.gateway.interceptor.FieldLevelDataMaskingPlugin"
SQL_TOPIC_PRIORITY = 100
MASKING_PRIORITY = 200  # after the SQL topic: masking sees the records the virtual topic serves
COMMENT_PREFIX = "managed by sluice"
_SCHEMA_FORMATS = frozenset({"avro", "protobuf"})
_GATEWAY_RULES = {"mask_all": "MASK_ALL", "mask_first": "MASK_FIRST_N", "mask_last": "MASK_LAST_N"}


def config_of(runtime: Mapping[str, Any]) -> ConduktorConfig | None:
    config = runtime.get(PLUGIN)
    return config if isinstance(config, ConduktorConfig) else None


def interceptor_name(project: str, model: str, purpose: str) -> str:
    """``sluice.<project>.<model>.<purpose>``: the prefix tells sluice's interceptors apart."""
    return f"{job_name(project, model)}.{purpose}"


def managed_prefix(project: str) -> str:
    return job_prefix(project)


def scope_of(config: ConduktorConfig | None) -> dict[str, str]:
    """The interceptor scope: the configured virtual cluster, else global (``passthrough``)."""
    if config is not None and config.virtual_cluster:
        return {"vCluster": config.virtual_cluster}
    return {}


def interceptor(
    name: str,
    scope: Mapping[str, str],
    plugin_class: str,
    priority: int,
    config: Mapping[str, Any],
    comment: str,
) -> dict[str, Any]:
    """The body of ``PUT /gateway/v2/interceptor`` (schema ``Interceptor``)."""
    return {
        "kind": "Interceptor",
        "apiVersion": "gateway/v2",
        "metadata": {"name": name, "scope": dict(scope)},
        "spec": {
            "comment": comment,
            "pluginClass": plugin_class,
            "priority": priority,
            "config": dict(config),
        },
    }


# -- virtual topics ---------------------------------------------------------------------------


def check(node: Any) -> str | None:
    """Why the model's parsed SQL does not fit the Gateway's SQL subset, or None when it does."""
    analysis = getattr(node, "analysis", None)
    if analysis is None:
        return "a virtual topic is defined by a SELECT; the model has no SQL"
    construct: str | None
    if len(analysis.relations) > 1:
        construct = f"several inputs ({', '.join(analysis.relations)})"
    else:
        construct = gateway_sql.unsupported(analysis.expression)
    if construct is None:
        return None
    return (
        f"its SQL uses {construct}, which the Conduktor Gateway's SQL topics cannot run "
        f"(they take {gateway_sql.SUBSET}); materialized: topic runs it as a Flink job instead"
    )


def compile_virtual_topic(node: Node, context: CompileContext) -> Artifact:
    """The ``VirtualSqlTopicPlugin`` interceptor serving the model's topic from its input."""
    model: Model = node.spec
    where = context.location(node, "sql")
    reason = check(node)
    if reason:  # the core checked already; a safety net for direct callers
        raise ProjectError(f"model '{node.name}': {reason}", location=where)
    upstream = context.upstream(node)
    inputs = [u for u in upstream if u.resource_type in ("source", "model")]
    if len(inputs) != 1 or not inputs[0].topic:
        raise ProjectError(
            f"model '{node.name}': a virtual topic reads exactly one topic; its inputs are "
            + (", ".join(u.name for u in inputs) or "none"),
            location=where,
            hint="use materialized: topic",
        )
    source = inputs[0]
    assert node.analysis is not None and node.topic is not None
    tree = node.analysis.expression
    if (source.format or "json") in _SCHEMA_FORMATS and any(
        not isinstance(e, exp.Star) for e in tree.expressions
    ):
        raise ProjectError(
            f"model '{node.name}': its input '{source.name}' is {source.format}, and the "
            "Gateway's SQL topics cannot project fields of Avro or Protobuf records",
            location=where,
            hint="select * (filtering still works), or use materialized: topic",
        )
    config: dict[str, Any] = {
        "virtualTopic": node.topic,
        "statement": gateway_sql.statement(tree, source.topic or source.name),
    }
    registry = _schema_registry(context, source.format)
    if registry:
        config["schemaRegistryConfig"] = registry
    project = context.project.info.name
    name = interceptor_name(project, model.name, "sql")
    body = interceptor(
        name,
        scope_of(config_of(context.runtime)),
        SQL_TOPIC_CLASS,
        SQL_TOPIC_PRIORITY,
        config,
        f"{COMMENT_PREFIX} (project {project}): virtual topic of model {model.name}",
    )
    return _artifact(node, name, body, "sql")


# -- masking ----------------------------------------------------------------------------------


def compile_masking(node: Node, context: CompileContext) -> Artifact | None:
    """A ``FieldLevelDataMaskingPlugin`` interceptor for the model's ``mask:``, scoped to its topic."""
    model = node.spec
    if node.resource_type != "model" or not isinstance(model, Model) or not model.mask:
        return None
    if "masking" not in context.capabilities or not node.topic:
        return None  # the core refused masking without a provider; the fallback is not ours
    policies = [_policy(node, column, rule, context) for column, rule in sorted(model.mask.items())]
    config: dict[str, Any] = {"topic": f"^{re.escape(node.topic)}$", "policies": policies}
    registry = _schema_registry(context, node.format)
    if registry:
        config["schemaRegistryConfig"] = registry
    project = context.project.info.name
    name = interceptor_name(project, model.name, "mask")
    body = interceptor(
        name,
        scope_of(config_of(context.runtime)),
        MASKING_CLASS,
        MASKING_PRIORITY,
        config,
        f"{COMMENT_PREFIX} (project {project}): masking of model {model.name}",
    )
    return _artifact(node, name, body, "mask")


def _policy(node: Node, column: str, rule: MaskRule, context: CompileContext) -> dict[str, Any]:
    where = context.location(node, "mask", column)
    gateway_rule = _GATEWAY_RULES.get(rule.rule)
    if gateway_rule is None:
        raise ProjectError(
            f"model '{node.name}': mask rule '{rule.rule}' of column '{column}' has no "
            "equivalent in the Gateway's FieldLevelDataMaskingPlugin",
            location=where,
            hint="use mask_all, mask_first or mask_last",
        )
    spec: dict[str, Any] = {"type": gateway_rule, "maskingChar": rule.char}
    if gateway_rule != "MASK_ALL":
        spec["numberOfChars"] = rule.keep  # the schema requires keep: for these rules
    return {"name": f"{rule.rule} {column}", "fields": [column], "rule": spec}


# -- helpers ----------------------------------------------------------------------------------


def _schema_registry(context: CompileContext, data_format: str | None) -> dict[str, Any] | None:
    """The registry the Gateway reads Avro/Protobuf schemas from (``runtime.schema_registry``)."""
    if data_format not in _SCHEMA_FORMATS:
        return None
    url = getattr(context.runtime.get("schema_registry"), "url", None)
    return {"host": str(url)} if url else None


def _artifact(node: Node, name: str, body: Mapping[str, Any], purpose: str) -> Artifact:
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    return Artifact(PLUGIN, KIND, name, body, file=f"{node.name}.{purpose}.json", text=text)
