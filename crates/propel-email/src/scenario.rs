//! Scenario configuration: a sender and a chain of emails, each with a delay counted from
//! the start of the chain, a subject and an HTML body (both Liquid templates).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    Welcome,
    AbandonedBasket,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 2] = [ScenarioKind::Welcome, ScenarioKind::AbandonedBasket];

    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Welcome => "welcome",
            ScenarioKind::AbandonedBasket => "abandonedBasket",
        }
    }

    pub fn from_name(name: &str) -> Option<ScenarioKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioEmail {
    pub delay_seconds: u64,
    pub subject: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub from: String,
    pub emails: Vec<ScenarioEmail>,
}

/// A broken rule of a scenario body: the field (`emails[1].html`) and the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub field: String,
    pub rule: String,
}

pub const MAX_EMAILS: usize = 20;
pub const MAX_DELAY_SECONDS: u64 = 365 * 86_400;
pub const MAX_HTML_BYTES: usize = 512 * 1024;

fn err(field: impl Into<String>, rule: impl Into<String>) -> ScenarioError {
    ScenarioError {
        field: field.into(),
        rule: rule.into(),
    }
}

impl Scenario {
    /// Validates a request body; templates must parse.
    pub fn from_json(body: &Value) -> Result<Scenario, ScenarioError> {
        let from = body
            .get("from")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                err(
                    "from",
                    "is required: a sender such as \"Shop <shop@example.com>\"",
                )
            })?;
        crate::message::check_mailbox(from).map_err(|e| {
            err(
                "from",
                format!("must be a mailbox such as \"Shop <shop@example.com>\" ({e})"),
            )
        })?;
        let list = body
            .get("emails")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty() && l.len() <= MAX_EMAILS)
            .ok_or_else(|| {
                err(
                    "emails",
                    format!("is required: an array of 1 to {MAX_EMAILS} emails"),
                )
            })?;
        let mut emails = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let field = |name: &str| format!("emails[{i}].{name}");
            let delay_seconds = e
                .get("delaySeconds")
                .and_then(Value::as_u64)
                .filter(|d| *d <= MAX_DELAY_SECONDS)
                .ok_or_else(|| {
                    err(
                        field("delaySeconds"),
                        format!("is required: an integer from 0 to {MAX_DELAY_SECONDS}"),
                    )
                })?;
            let subject = e
                .get("subject")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty() && s.chars().count() <= 500)
                .ok_or_else(|| {
                    err(
                        field("subject"),
                        "is required: a non-empty string of at most 500 characters",
                    )
                })?;
            let html = e
                .get("html")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty() && s.len() <= MAX_HTML_BYTES)
                .ok_or_else(|| err(field("html"), format!("is required: a non-empty Liquid template of at most {MAX_HTML_BYTES} bytes")))?;
            crate::template::check(subject).map_err(|e| {
                err(
                    field("subject"),
                    format!("is not a valid Liquid template: {e}"),
                )
            })?;
            crate::template::check(html).map_err(|e| {
                err(
                    field("html"),
                    format!("is not a valid Liquid template: {e}"),
                )
            })?;
            emails.push(ScenarioEmail {
                delay_seconds,
                subject: subject.to_string(),
                html: html.to_string(),
            });
        }
        Ok(Scenario {
            from: from.to_string(),
            emails,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_every_rule() {
        let ok = json!({"from": "Shop <shop@example.com>", "emails": [{"delaySeconds": 0, "subject": "Hi", "html": "<p>{{ contact.email }}</p>"}]});
        let s = Scenario::from_json(&ok).unwrap();
        assert_eq!(s.emails.len(), 1);
        let bad = |body: Value, field: &str| {
            let e = Scenario::from_json(&body).unwrap_err();
            assert_eq!(e.field, field, "{e:?}");
        };
        bad(json!({"emails": []}), "from");
        bad(json!({"from": "nope", "emails": []}), "from");
        bad(json!({"from": "a@b.io", "emails": []}), "emails");
        bad(
            json!({"from": "a@b.io", "emails": [{"subject": "s", "html": "h"}]}),
            "emails[0].delaySeconds",
        );
        bad(
            json!({"from": "a@b.io", "emails": [{"delaySeconds": 1, "subject": "", "html": "h"}]}),
            "emails[0].subject",
        );
        bad(
            json!({"from": "a@b.io", "emails": [{"delaySeconds": 1, "subject": "s", "html": "h"}, {"delaySeconds": 1, "subject": "s", "html": "{% if %}"}]}),
            "emails[1].html",
        );
        assert_eq!(
            ScenarioKind::from_name("abandonedBasket"),
            Some(ScenarioKind::AbandonedBasket)
        );
        assert_eq!(ScenarioKind::from_name("x"), None);
    }
}
