//! One email as it goes on the wire: HTML body, a stable `Message-ID`, and the
//! unsubscribe headers of RFC 2369 / RFC 8058 (one-click).

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;

#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub html: String,
    /// Without angle brackets; the same for every attempt of one outbox row.
    pub message_id: String,
    pub unsubscribe_url: String,
}

/// Why a message could not be built (bad address and the like): never worth a retry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

pub fn build_message(email: &OutgoingEmail) -> Result<Message, BuildError> {
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| BuildError(format!("from: {e}")))?;
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| BuildError(format!("recipient: {e}")))?;
    let mut message = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)))
        .header(ContentType::TEXT_HTML)
        .body(email.html.clone())
        .map_err(|e| BuildError(e.to_string()))?;
    let headers = message.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe"),
        format!("<{}>", email.unsubscribe_url),
    ));
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click".to_string(),
    ));
    Ok(message)
}

/// Checks a `From` value ("Shop <shop@example.com>" or a bare address).
pub fn check_mailbox(value: &str) -> Result<(), String> {
    value
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_unsubscribe_headers_and_a_stable_id() {
        let m = build_message(&OutgoingEmail {
            from: "Shop <shop@example.com>".into(),
            to: "a@b.io".into(),
            subject: "Hello".into(),
            html: "<p>hi</p>".into(),
            message_id: "42.abc@propel".into(),
            unsubscribe_url: "http://127.0.0.1:1/unsubscribe/abc".into(),
        })
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Message-ID: <42.abc@propel>"), "{text}");
        assert!(text.contains("List-Unsubscribe: <http://127.0.0.1:1/unsubscribe/abc>"));
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("Content-Type: text/html"));
        assert!(check_mailbox("Shop <shop@example.com>").is_ok());
        assert!(check_mailbox("not an address").is_err());
    }
}
