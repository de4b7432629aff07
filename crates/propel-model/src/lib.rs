//! The vocabulary shared by every propel crate: identifiers, tracking events and
//! their validation rules, and the one table of error codes.

pub mod body;
pub mod error;
pub mod event;
pub mod fields;
pub mod ids;
pub mod timestamp;

pub use body::{BodyFields, EventBody};
pub use error::{ApiError, ErrorCode};
pub use event::{Event, EventKind, ValidatedEvent};
pub use ids::{PartnerId, SessionId};
