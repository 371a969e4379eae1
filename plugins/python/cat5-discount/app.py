"""Seed transform 2 in Python: adds `discount_price`, the price less 20% for
products in category `CAT_5` (compared case-insensitively in ASCII, as the
Rust plugin does), and `null` for every other category.

The same money rule as the Rust plugin's money.rs: the price is the decimal
its shortest text says (`repr`), 80% of it is exact, and the result is
rounded to cents half away from zero (decimal's ROUND_HALF_UP), then read
back as the nearest float.
"""

from decimal import ROUND_HALF_UP, Context, Decimal

import wit_world
from wit_world.imports.types import (
    Field, FieldSpec, FieldType, Manifest, Outcome, Outcome_Fail,
    Outcome_Keep, Row, Value_Double, Value_Null, Value_Text,
)

DISCOUNTED_CATEGORY = "CAT_5"
PERCENT_PAID = 80
# Enough digits for any double's exact cents (the largest has 309 before the point).
EXACT = Context(prec=1000)


class WitWorld(wit_world.WitWorld):
    def manifest(self) -> Manifest:
        return Manifest(
            name="cat5-discount", version="0.1.0", reads=["category", "price"],
            writes=[FieldSpec(name="discount_price", type=FieldType.DOUBLE, optional=True)],
        )

    def transform(self, rows: list[Row]) -> list[Outcome]:
        return [add_discount_price(row) for row in rows]


def percent_of_in_cents(price: float, percent: int) -> float:
    if price != price or price in (float("inf"), float("-inf")):
        return price * percent / 100.0
    exact = EXACT.divide(EXACT.multiply(Decimal(repr(price)), percent), 100)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=EXACT))


def add_discount_price(row: Row) -> Outcome:
    values = {field.name: field.value for field in row.fields}
    category, price = values.get("category"), values.get("price")
    if price is None:
        return Outcome_Fail("record has no field `price`")
    if not isinstance(price, Value_Double):
        return Outcome_Fail("field `price` is not a double")
    discounted = (isinstance(category, Value_Text) and category.value.isascii()
                  and category.value.upper() == DISCOUNTED_CATEGORY)
    discount_price = (Value_Double(percent_of_in_cents(price.value, PERCENT_PAID))
                      if discounted else Value_Null())
    for field in row.fields:
        if field.name == "discount_price":
            field.value = discount_price
            break
    else:
        row.fields.append(Field(name="discount_price", value=discount_price))
    return Outcome_Keep(row)
