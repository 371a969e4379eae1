//! The MySQL side: the `product` table, tailing it by position, and the
//! producer's saved position.
//!
//! Tailing is keyset pagination on `(last_updated, id)`: every poll reads the
//! rows strictly after the last position and at or before a *safe bound*, the
//! newest instant for which no commit can still appear (see [`tail`]).

pub mod mysql;
pub mod position;
pub mod tail;

pub use position::{Position, PositionFile};
pub use tail::{SourceRow, Tailer};
