// Seed transform 2 in JavaScript: adds `discount_price`, the price less 20%
// for products in category `CAT_5` (compared case-insensitively in ASCII, as
// the Rust plugin does), and `null` for every other category.
//
// The same money rule as the Rust plugin's money.rs: the price is the decimal
// its shortest text says (`String(price)`), 80% of it is computed exactly in
// BigInt, rounded to cents half away from zero, and read back as the nearest
// number (`Number("<cents>e-2")` rounds correctly).

const DISCOUNTED_CATEGORY = "CAT_5";
const PERCENT_PAID = 80n;

export function manifest() {
  return {
    name: "cat5-discount",
    version: "0.1.0",
    reads: ["category", "price"],
    writes: [{ name: "discount_price", type: "double", optional: true }],
  };
}

export function transform(rows) {
  return rows.map(addDiscountPrice);
}

export function percentOfInCents(price, percent) {
  if (!Number.isFinite(price)) return (price * Number(percent)) / 100;
  // `String(-0)` is "0": the sign is taken apart, so -0 stays -0 as in Rust.
  const sign = price < 0 || Object.is(price, -0) ? "-" : "";
  // `1.5e-7` -> digits `15`, exponent -8: the price is digits × 10^exponent.
  const [, whole, fraction = "", exp = "0"] =
    /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(Math.abs(price)));
  const digits = BigInt(whole + fraction);
  const exponent = Number(exp) - fraction.length;
  // cents = digits × percent × 10^exponent (the "/ 100" and "× 100" cancel).
  let cents = digits * percent;
  if (exponent >= 0) {
    cents *= 10n ** BigInt(exponent);
  } else {
    const divisor = 10n ** BigInt(-exponent);
    const remainder = cents % divisor;
    cents /= divisor;
    if (remainder * 2n >= divisor) cents += 1n; // half away from zero, on the magnitude
  }
  return Number(`${sign}${cents}e-2`);
}

function addDiscountPrice(row) {
  const category = row.fields.find((f) => f.name === "category")?.value;
  const price = row.fields.find((f) => f.name === "price")?.value;
  if (!price) return { tag: "fail", val: "record has no field `price`" };
  if (price.tag !== "double") return { tag: "fail", val: "field `price` is not a double" };
  const discounted =
    category?.tag === "text" &&
    /^[\x00-\x7f]*$/.test(category.val) &&
    category.val.toUpperCase() === DISCOUNTED_CATEGORY;
  const discountPrice = discounted
    ? { tag: "double", val: percentOfInCents(price.val, PERCENT_PAID) }
    : { tag: "null" };
  const field = row.fields.find((f) => f.name === "discount_price");
  if (field) field.value = discountPrice;
  else row.fields.push({ name: "discount_price", value: discountPrice });
  return { tag: "keep", val: row };
}
