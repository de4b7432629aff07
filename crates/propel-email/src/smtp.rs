//! Delivery through the configured SMTP relay (`smtp://host:port`, `smtps://user:pass@host:465`,
//! `smtp://host:587?tls=required`): lettre over tokio, TLS by rustls with the ring provider.

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// 4xx, connection refused, timeouts: try again later.
    #[error("temporary SMTP failure: {0}")]
    Temporary(String),
    /// 5xx: the relay will never take this message.
    #[error("permanent SMTP failure: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpRelay {
    /// The relay of `url`; the error never repeats the URL (it may hold a password).
    pub fn from_url(url: &str) -> Result<SmtpRelay, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("the SMTP URL is not usable: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(SmtpRelay { transport })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }
}
