// Seed transform 1 in JavaScript: `category` upper-cased (`cat_5` becomes `CAT_5`).
//
// The same rule as the Rust plugin: Unicode's full, locale-independent
// upper-case mapping (`toUpperCase`), so `straße` becomes `STRASSE`.

export function manifest() {
  return { name: "uppercase-category", version: "0.1.0", reads: ["category"], writes: [] };
}

export function transform(rows) {
  return rows.map(uppercaseCategory);
}

function uppercaseCategory(row) {
  const field = row.fields.find((f) => f.name === "category");
  if (!field) return { tag: "fail", val: "record has no field `category`" };
  if (field.value.tag === "text") {
    field.value = { tag: "text", val: field.value.val.toUpperCase() };
  } else if (field.value.tag !== "null") {
    return { tag: "fail", val: "field `category` is not text" };
  }
  return { tag: "keep", val: row };
}
