export function manifest() {
  return { name: "round-prices", version: "0.1.0", reads: ["price"], writes: [] };
}

export function transform(rows) {
  return rows.map((row) => {
    for (const field of row.fields) {
      if (field.name === "price" && field.value.tag === "double") {
        field.value = { tag: "double", val: Math.round(field.value.val) };
      }
    }
    return { tag: "keep", val: row };
  });
}
