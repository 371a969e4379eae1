//! The MySQL side: the configured table as the catalog describes it
//! ([`catalog`]), tailing it by position, and the producer's saved position.
//!
//! Tailing is keyset pagination on `(stamp, key)` ([`key`]): every poll reads the
//! rows strictly after the last position, up to `NOW(6)` less a grace period
//! and before any change still in flight (see [`tail`], [`uncommitted`]).
//! [`binlog`] is the other mode: the server's row-based binary log.

pub mod binlog;
pub mod catalog;
pub mod key;
pub mod late;
pub mod mysql;
pub mod position;
pub mod table_check;
pub mod tail;
pub mod triggers;
pub mod uncommitted;
pub mod values;

pub use position::{Key, KeyPart, Position, PositionFile};
pub use tail::{SourceRow, Tailer};
