"""Seed transform 1 in Python: `category` upper-cased (`cat_5` becomes `CAT_5`).

The same rule as the Rust plugin: Unicode's full, locale-independent
upper-case mapping (`str.upper()`), so `straße` becomes `STRASSE`.
"""

import wit_world
from wit_world.imports.types import (
    Manifest, Outcome, Outcome_Fail, Outcome_Keep, Row, Value_Null, Value_Text,
)


class WitWorld(wit_world.WitWorld):
    def manifest(self) -> Manifest:
        return Manifest(name="uppercase-category", version="0.1.0",
                        reads=["category"], writes=[])

    def transform(self, rows: list[Row]) -> list[Outcome]:
        return [uppercase_category(row) for row in rows]


def uppercase_category(row: Row) -> Outcome:
    for field in row.fields:
        if field.name == "category":
            if isinstance(field.value, Value_Text):
                field.value = Value_Text(field.value.value.upper())
            elif not isinstance(field.value, Value_Null):
                return Outcome_Fail("field `category` is not text")
            return Outcome_Keep(row)
    return Outcome_Fail("record has no field `category`")
