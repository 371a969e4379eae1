"""Test fixture: raises ValueError on every record whose `id` is even, so
the exception's text must reach `plugin check` and the dead letters."""

import wit_world
from wit_world.imports.types import Manifest, Outcome, Outcome_Keep, Row


class WitWorld(wit_world.WitWorld):
    def manifest(self) -> Manifest:
        return Manifest(name="fixture-raises", version="0.1.0", reads=["id"], writes=[])

    def transform(self, rows: list[Row]) -> list[Outcome]:
        return [check(row) for row in rows]


def check(row: Row) -> Outcome:
    ident = next(field.value.value for field in row.fields if field.name == "id")
    if ident % 2 == 0:
        raise ValueError(f"id {ident} is even")
    return Outcome_Keep(row)
