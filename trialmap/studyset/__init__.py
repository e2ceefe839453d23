"""The study set: which records answer the question a definition asks, and why.

A definition (TOML; three ship with trialmap, see :func:`list_definitions`)
names an intervention rule and condition categories; :func:`select` applies
it to the canonical tables and returns the inclusion log (one row per record:
the step it left at and why) and the categories of the included trials with
their evidence.

Modules: :mod:`~trialmap.studyset.definition` (format, checks, shipped
definitions), :mod:`~trialmap.studyset.rule` (intervention and condition
evidence), :mod:`~trialmap.studyset.select` (inclusion log, flow, counts).
"""

from __future__ import annotations

from trialmap.studyset.definition import (
    DEFAULT,
    Category,
    Definition,
    DefinitionInfo,
    Intervention,
    default_definition_text,
    definition_text,
    list_definitions,
    load_definition,
    normalize_mesh_id,
    parse_definition,
    with_switches,
)
from trialmap.studyset.rule import MATCH_MODES, classify, intervention_evidence
from trialmap.studyset.select import (
    STEPS,
    category_counts,
    flow_counts,
    select,
    step_labels,
    step_prose,
)

__all__ = [
    "DEFAULT",
    "MATCH_MODES",
    "STEPS",
    "Category",
    "Definition",
    "DefinitionInfo",
    "Intervention",
    "category_counts",
    "classify",
    "default_definition_text",
    "definition_text",
    "flow_counts",
    "intervention_evidence",
    "list_definitions",
    "load_definition",
    "normalize_mesh_id",
    "parse_definition",
    "select",
    "step_labels",
    "step_prose",
    "with_switches",
]
