// Test fixture: throws a RangeError on every record whose `id` is even, so
// the error's text must reach `plugin check` and the dead letters.

export function manifest() {
  return { name: "fixture-throws", version: "0.1.0", reads: ["id"], writes: [] };
}

export function transform(rows) {
  return rows.map(check);
}

function check(row) {
  const id = row.fields.find((field) => field.name === "id").value.val;
  if (id % 2 === 0) {
    throw new RangeError(`id ${id} is even`);
  }
  return { tag: "keep", val: row };
}
