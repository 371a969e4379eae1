//! Test fixture: a `transform-batch` plugin built against the first version
//! of that world (its own `wit/transform.wit`, where text and bytes were
//! strings and lists of their own, not spans of the batch's `data`). The
//! host must refuse it at load with a message saying to rebuild it.

wit_bindgen::generate!({ path: "wit", world: "transform-batch" });

use pipeline::transform::batch_types::RowOutcome;

struct FirstBatchWorld;

impl Guest for FirstBatchWorld {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-batch-v1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec![],
            writes: vec![],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        BatchResult {
            outcomes: (0..batch.rows).map(|_| RowOutcome::Keep).collect(),
            values: Vec::new(),
        }
    }
}

export!(FirstBatchWorld);
