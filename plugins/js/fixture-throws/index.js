// Test fixture: throws a RangeError on every record whose `id` is a
// multiple of 3, so the error's text must reach `plugin check` and the dead
// letters. (After fixture-raises, which fails the even ones, in a chain.)

export function manifest() {
  return { name: "fixture-throws", version: "0.1.0", reads: ["id"], writes: [] };
}

export function transform(rows) {
  return rows.map(check);
}

function check(row) {
  const id = row.fields.find((field) => field.name === "id").value.val;
  if (id % 3 === 0) {
    throw new RangeError(`id ${id} is a multiple of 3`);
  }
  return { tag: "keep", val: row };
}
