//! propel's email side, with no HTTP and no SQL: Liquid templates and their variables,
//! tracked links, messages with RFC 8058 unsubscribe headers, SMTP delivery, the outbox's
//! retry rule, scenario configuration, and the subscriber CSV format.

pub mod csv;
pub mod links;
pub mod message;
pub mod outbox;
pub mod scenario;
pub mod smtp;
pub mod template;

pub use lettre::Message;
pub use message::{build_message, OutgoingEmail};
pub use scenario::{Scenario, ScenarioEmail, ScenarioKind};
pub use smtp::{SendError, SmtpRelay};
pub use template::{Product, RenderInput};
