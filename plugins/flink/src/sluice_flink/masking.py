"""``mask_fallback: materialize``: the model's job masks its records before it writes them.

When no plugin provides ``masking`` (no Conduktor Gateway), the core lets a model with
``mask:`` compile only with ``mask_fallback: materialize`` (see :mod:`sluice.masking`). Its job
then selects every output column of the model's query, each masked column through the
expression of its rule, so the model's topic never holds an unmasked value:

``mask_all``
    every character replaced by ``char``;
``mask_first`` / ``mask_last``
    the first / last ``keep`` characters replaced by ``char`` (all of them when the value is
    shorter), as the Gateway's ``MASK_FIRST_N`` / ``MASK_LAST_N`` with ``numberOfChars`` do;
``null``
    the value replaced by NULL.

A null stays null. The character rules apply to text columns only, and a key column is never
masked: the record's key, and with it the partition and the upsert identity, would change.
"""

from __future__ import annotations

import re

from sluice.compiler import CompileContext
from sluice.errors import ProjectError
from sluice.masking import fallback_active
from sluice.nodes import Node
from sluice.project.schema import MaskRule, Model
from sluice_flink.ddl import identifier, literal

UNMASKED = "`__sluice_unmasked`"
_TEXT = re.compile(r"^\s*(STRING|VARCHAR|CHAR)\b", re.IGNORECASE)


def masked_query(node: Node, query: str, context: CompileContext) -> str:
    """``query`` as the job runs it: unchanged, or wrapped in the projection that masks."""
    model: Model = node.spec
    if not fallback_active(model, context.capabilities):
        return query
    where = context.location(node, "name")
    select = []
    for column in node.columns:
        name = identifier(column.name, "column", where)
        rule = model.mask.get(column.name)
        if rule is None:
            select.append(name)
            continue
        _check_maskable(node, column.name, column.type, rule, context)
        select.append(f"{_expression(name, column.type or '', rule)} AS {name}")
    columns = ",\n  ".join(select)
    return f"SELECT\n  {columns}\nFROM (\n{query}\n) AS {UNMASKED}"


def _expression(name: str, type_: str, rule: MaskRule) -> str:
    char = literal(rule.char)
    if rule.rule == "null":
        return f"CAST(NULL AS {type_})"
    if rule.rule == "mask_all":
        return f"REPEAT({char}, CHAR_LENGTH({name}))"
    masked = f"REPEAT({char}, LEAST(CHAR_LENGTH({name}), {rule.keep}))"
    if rule.rule == "mask_first":
        return f"CONCAT({masked}, SUBSTRING({name} FROM {rule.keep} + 1))"
    kept = f"SUBSTRING({name} FROM 1 FOR GREATEST(CHAR_LENGTH({name}) - {rule.keep}, 0))"
    return f"CONCAT({kept}, {masked})"


def _check_maskable(
    node: Node, column: str, type_: str | None, rule: MaskRule, context: CompileContext
) -> None:
    where = context.location(node, "mask", column)
    if column in node.key:
        raise ProjectError(
            f"model '{node.name}': mask_fallback: materialize cannot mask key column '{column}': "
            "the records' key would change with it",
            location=where,
            hint="mask a column that is not part of key:, or key the model by another column",
        )
    if rule.rule == "null":
        return
    if not type_ or not _TEXT.match(type_):
        raise ProjectError(
            f"model '{node.name}': mask rule '{rule.rule}' of column '{column}' replaces "
            f"characters, but the column is {type_ or 'of unknown type'}, not text",
            location=where,
            hint=f"use {{rule: null}}, or CAST({column} AS STRING) in the model's SQL",
        )
