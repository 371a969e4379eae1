//! The seed products in `data/products.csv`.

use std::path::Path;

use crate::error::{Error, Result};

/// One seed product.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedProduct {
    pub id: i32,
    pub name: String,
    pub category: String,
    pub price: f64,
    /// As written in the file; the insert trigger moves a past stamp to now.
    pub last_updated: String,
}

/// Reads the seed file: a header `id,name,category,price,last_updated`, then
/// one product per line. Errors name the file and line.
pub fn read_seed(path: &Path) -> Result<Vec<SeedProduct>> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::io(path, error))?;
    let origin = |line: usize| format!("{}:{line}", path.display());
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "id,name,category,price,last_updated" => {}
        _ => {
            return Err(Error::config(
                origin(1),
                "expected the header `id,name,category,price,last_updated`",
            ));
        }
    }
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let bad = |what: &str| Error::config(origin(index + 1), format!("{what} in `{line}`"));
            let fields: Vec<_> = line.split(',').map(str::trim).collect();
            let [id, name, category, price, last_updated] = fields[..] else {
                return Err(bad("expected 5 comma-separated fields"));
            };
            Ok(SeedProduct {
                id: id.parse().map_err(|_| bad("`id` is not an integer"))?,
                name: name.to_owned(),
                category: category.to_owned(),
                price: price.parse().map_err(|_| bad("`price` is not a number"))?,
                last_updated: last_updated.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_has_fifty_products() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/products.csv");
        let products = read_seed(&path).unwrap();
        assert_eq!(products.len(), 50);
        assert!(products.iter().all(|p| p.category.starts_with("cat_")));
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(
            &path,
            "id,name,category,price,last_updated\n1,a,cat_1,oops,x\n",
        )
        .unwrap();
        let message = read_seed(&path).unwrap_err().to_string();
        assert!(
            message.contains("p.csv:2") && message.contains("price"),
            "{message}"
        );
    }
}
