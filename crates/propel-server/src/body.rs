//! Reading a JSON body: content type, size limit, syntax.

use crate::error::HttpError;
use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use propel_model::{ApiError, ErrorCode};
use serde_json::Value;

/// `application/json`, any letter case, parameters such as `charset` allowed.
pub fn require_json(headers: &HeaderMap) -> Result<(), HttpError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        Ok(())
    } else {
        let mut e = ApiError::new(
            ErrorCode::UnsupportedContentType,
            "Content-Type must be application/json for a request with a body",
        );
        e.field = Some("Content-Type".into());
        Err(e.into())
    }
}

/// The whole body, refused past `limit` bytes. A body that comes in one DATA frame, as
/// nearly every tracking request's does, is returned as that frame's bytes: no buffer,
/// no copy. Generic so that tracking reads hyper's body without boxing it first.
pub async fn read_bytes<B>(body: B, limit: usize) -> Result<Bytes, HttpError>
where
    B: HttpBody<Data = Bytes>,
{
    let refused = || -> HttpError {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than this endpoint's limit of {limit} bytes (or could not be read)"),
        )
        .into()
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(refused());
    }
    let mut body = std::pin::pin!(body);
    let (mut first, mut joined, mut len) = (Bytes::new(), BytesMut::new(), 0usize);
    while let Some(frame) = body.as_mut().frame().await {
        // Trailers carry nothing a JSON body needs.
        let Ok(data) = frame.map_err(|_| refused())?.into_data() else {
            continue;
        };
        len += data.len();
        if len > limit {
            return Err(refused());
        }
        if joined.is_empty() && first.is_empty() {
            first = data;
        } else {
            if joined.is_empty() {
                joined.extend_from_slice(&first);
            }
            joined.extend_from_slice(&data);
        }
    }
    Ok(if joined.is_empty() {
        first
    } else {
        joined.freeze()
    })
}

pub fn parse_json(bytes: &[u8]) -> Result<Value, HttpError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let mut err = ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        );
        err.field = Some("body".into());
        err.into()
    })
}

/// Content type, size and syntax in one step.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, HttpError> {
    require_json(headers)?;
    parse_json(&read_bytes(body, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    fn frames(
        parts: &[&'static str],
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>>>
    {
        let frames: Vec<_> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn frames_are_joined_up_to_the_limit() {
        let one = read_bytes(frames(&["{\"a\":1}"]), 7).await.unwrap();
        assert_eq!(&one[..], b"{\"a\":1}");
        let joined = read_bytes(frames(&["", "{\"a\"", ":", "12}"]), 8)
            .await
            .unwrap();
        assert_eq!(&joined[..], b"{\"a\":12}");
        let over = read_bytes(frames(&["{\"a\"", ":", "123}"]), 8)
            .await
            .unwrap_err();
        assert_eq!(over.error.code, ErrorCode::BodyTooLarge);
        assert!(read_bytes(frames(&[]), 0).await.unwrap().is_empty());
    }
}
