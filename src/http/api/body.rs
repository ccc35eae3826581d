//! Request bodies: read with a byte bound and a deadline, then parsed strictly (SPEC "Admin API":
//! bodies over 64 KiB are a 413, unknown fields a 400). A client that sends its body slowly is
//! cut off at [`BODY_TIMEOUT`], as one that sends its head slowly is at hyper's header timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use super::ApiError;

pub const MAX_BODY: usize = 64 * 1024;
pub const BODY_TIMEOUT: Duration = Duration::from_secs(15);

/// A body over the limit is still read, and thrown away, up to this many bytes (within the same
/// deadline) before the 413 goes out: a connection closed with unread bytes is reset, and the
/// client may then lose the answer.
pub const DRAIN_LIMIT: usize = 1024 * 1024;

/// The whole body, at most [`MAX_BODY`] bytes, within [`BODY_TIMEOUT`].
pub async fn read<B>(body: B) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
{
    collect(body, true).await
}

/// Reads a body the answer does not need (a refused request's, a GET's), as [`read`] would, and
/// throws it away: the connection then closes cleanly, or stays open for the next request.
pub async fn discard<B>(body: B)
where
    B: hyper::body::Body<Data = Bytes>,
{
    let _ = collect(body, false).await;
}

async fn collect<B>(body: B, keep: bool) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
{
    let collect = async {
        futures_lite::pin!(body);
        let mut kept = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(ApiError::BadRequest("the request body could not be read".into()));
            };
            let Ok(data) = frame.into_data() else { continue };
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_LIMIT {
                break;
            }
            if keep && seen <= MAX_BODY {
                kept.extend_from_slice(&data);
            }
        }
        if seen > MAX_BODY {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
        }
        Ok(Bytes::from(kept))
    };
    futures_lite::future::or(collect, async {
        smol::Timer::after(BODY_TIMEOUT).await;
        Err(ApiError::BadRequest(format!("the request body did not arrive within {}s", BODY_TIMEOUT.as_secs())))
    })
    .await
}

/// Parses a JSON body into `T` (whose fields are declared with `deny_unknown_fields`).
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("a JSON body is required".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Like [`json`], but an empty body is `None`.
pub fn optional_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    json(bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug only")]
    struct Login {
        username: String,
        password: String,
    }

    #[test]
    fn bodies_over_the_limit_are_413() {
        let ok = smol::block_on(read(Full::new(Bytes::from(vec![b' '; MAX_BODY])))).unwrap();
        assert_eq!(ok.len(), MAX_BODY);
        let e = smol::block_on(read(Full::new(Bytes::from(vec![b' '; MAX_BODY + 1])))).unwrap_err();
        assert_eq!(e, ApiError::PayloadTooLarge { limit: MAX_BODY });
    }

    #[test]
    fn strict_json() {
        assert!(json::<Login>(br#"{"username":"a","password":"b"}"#).is_ok());
        for bad in [
            &br#"{"username":"a","password":"b","x":1}"#[..],
            b"{",
            b"",
            b"[]",
            b"\xff",
            br#"{"username":1,"password":"b"}"#,
        ] {
            assert!(matches!(json::<Login>(bad), Err(ApiError::BadRequest(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(optional_json::<Login>(b"  ").unwrap().is_none());
    }
}
