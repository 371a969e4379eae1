import wit_world
from wit_world.imports.types import Manifest, Outcome, Outcome_Keep, Row, Value_Double


class WitWorld(wit_world.WitWorld):
    def manifest(self) -> Manifest:
        return Manifest(name="round-prices", version="0.1.0", reads=["price"], writes=[])

    def transform(self, rows: list[Row]) -> list[Outcome]:
        for row in rows:
            for field in row.fields:
                if field.name == "price" and isinstance(field.value, Value_Double):
                    field.value = Value_Double(float(round(field.value.value)))
        return [Outcome_Keep(row) for row in rows]
