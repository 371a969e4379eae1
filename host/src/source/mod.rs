//! The MySQL side: the `product` table, tailing it by position, and the
//! producer's saved position.
//!
//! Tailing is keyset pagination on `(last_updated, id)`: every poll reads the
//! rows strictly after the last position, up to `NOW(6)` less a grace period
//! and before any change still in flight (see [`tail`], [`uncommitted`]).
//! [`binlog`] is the other mode: the server's row-based binary log.

pub mod binlog;
pub mod late;
pub mod mysql;
pub mod position;
pub mod table_check;
pub mod tail;
pub mod triggers;
pub mod uncommitted;

pub use position::{Position, PositionFile};
pub use tail::{SourceRow, Tailer};
