"""How the store reads attribute columns: the SQL expression per column (the entity
mirror reads the same ones), the SELECT of a profile's attribute set, built once per
set (entities.EntityTables.attributes), and one row's text as a CategoricalColumn."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from prioscore.server.engine import CategoricalColumn
from prioscore.server.store.records import json_path

# An attribute column as the engine reads it, from entities AS e (two JSON path
# parameters each): a categorical one as text, falling back to a numeric attribute's
# number as text ("3", "2.5"); a numeric one as a number, NULL when absent or not one.
CATEGORICAL_SQL = (
    "COALESCE(CAST(json_extract(e.attributes, ?) AS TEXT),"
    " (SELECT CASE WHEN v = CAST(v AS INTEGER) THEN CAST(CAST(v AS INTEGER) AS TEXT)"
    " ELSE CAST(v AS TEXT) END"
    " FROM (SELECT json_extract(e.numeric_attributes, ?) AS v)))"
)
NUMERIC_SQL = (
    "CASE WHEN json_type(e.numeric_attributes, ?) IN ('integer', 'real')"
    " THEN json_extract(e.numeric_attributes, ?) END"
)


@lru_cache(maxsize=256)
def attribute_sql(
    cats: tuple[str, ...], nums: tuple[str, ...], one: bool
) -> tuple[str, tuple[str, ...]]:
    """(SELECT, its JSON path parameters) reading these attribute columns, the position
    first: of the one id given (`one`, the unary read: no json_each), or of each id in a
    JSON array. Built once per profile's attribute set (a bounded set), not per read."""
    columns = ["0" if one else "j.key"]
    paths: list[str] = []
    for names, sql in ((cats, CATEGORICAL_SQL), (nums, NUMERIC_SQL)):
        for c in names:
            columns.append(sql)
            paths += [json_path(c), json_path(c)]
    source = (
        " FROM entities AS e WHERE e.id = ?"
        if one
        else " FROM json_each(?) AS j CROSS JOIN entities AS e ON e.id = j.value"
    )
    return f"SELECT {', '.join(columns)}{source}", tuple(paths)


def one_text(value: str | None) -> CategoricalColumn:
    """texts_to_codes([value], 1) without its dictionaries: one attribute of one row."""
    if value is None or value == "":
        return CategoricalColumn(np.full(1, -1, dtype=np.int32), ())
    return CategoricalColumn(np.zeros(1, dtype=np.int32), (str(value),))
