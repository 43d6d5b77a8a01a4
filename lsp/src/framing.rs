//! A guard in front of tower-lsp-server's reader. Its framed reader stops reading for good after
//! the first message that is not valid JSON-RPC (tokio-util ends a stream after a decode error),
//! which would leave the server deaf. This pump re-frames the input, passes well-formed messages
//! through unchanged and replaces the others with an ignored `$/` notification (logging why to
//! stderr), so one bad message costs that message only.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// Messages larger than this are dropped (and logged) rather than buffered.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

const PLACEHOLDER: &str = r#"{"jsonrpc":"2.0","method":"$/tl/droppedMessage","params":null}"#;

/// Starts the pump; the returned stream is what the server should read.
pub fn guard<I>(input: I) -> DuplexStream
where
    I: AsyncRead + Unpin + Send + 'static,
{
    let (mut writer, reader) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(body) = next_frame(&mut input).await {
            let body = match body {
                Ok(b) if is_jsonrpc(&b) => reroute_dollar_request(b),
                Ok(b) => {
                    eprintln!(
                        "tl-lsp: dropped a malformed message ({} bytes): not a JSON-RPC 2.0 object",
                        b.len()
                    );
                    PLACEHOLDER.as_bytes().to_vec()
                }
                Err(why) => {
                    eprintln!("tl-lsp: dropped a message: {why}");
                    PLACEHOLDER.as_bytes().to_vec()
                }
            };
            let header = format!("Content-Length: {}\r\n\r\n", body.len());
            if writer.write_all(header.as_bytes()).await.is_err()
                || writer.write_all(&body).await.is_err()
            {
                break;
            }
        }
        // Dropping the writer ends the server's input: it stops as on a closed stdin.
    });
    reader
}

/// The next framed body; `None` at the end of the input; `Some(Err)` for a frame to drop.
async fn next_frame<R: AsyncRead + Unpin>(
    input: &mut BufReader<R>,
) -> Option<Result<Vec<u8>, String>> {
    let mut length: Option<usize> = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        let n = input.read_until(b'\n', &mut line).await.ok()?;
        if n == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
        if line.len() > 8192 {
            return Some(Err("header line too long".into()));
        }
    }
    let Some(length) = length else {
        return Some(Err("no valid Content-Length header".into()));
    };
    if length > MAX_MESSAGE_BYTES {
        let mut skip = input.take(length as u64);
        let _ = tokio::io::copy(&mut skip, &mut tokio::io::sink()).await;
        return Some(Err(format!(
            "{length} bytes is over the {MAX_MESSAGE_BYTES} byte limit"
        )));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body).await.ok()?;
    Some(Ok(body))
}

/// The prefix a `$/` request's method gets, so that it is answered.
const UNHANDLED_DOLLAR: &str = "tl/unhandled/";

/// tower-lsp-server swallows the MethodNotFound answer for every method that starts with `$/`,
/// requests included, but the protocol only lets a server ignore `$/` *notifications*; a `$/`
/// request must get error -32601. No `$/` request is served by tl, so a request (it has an
/// `id`) whose method starts with `$/` is renamed `tl/unhandled/$/...`, which the router answers
/// with MethodNotFound (the error's data names the renamed method). Notifications pass unchanged.
fn reroute_dollar_request(body: Vec<u8>) -> Vec<u8> {
    let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let dollar = matches!(m.get("method"), Some(Value::String(s)) if s.starts_with("$/"));
    if !dollar || !m.contains_key("id") {
        return body;
    }
    if let Some(Value::String(method)) = m.get_mut("method") {
        *method = format!("{UNHANDLED_DOLLAR}{method}");
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or(body)
}

/// A request, notification or response as JSON-RPC 2.0 defines them.
fn is_jsonrpc(body: &[u8]) -> bool {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return false;
    }
    let id_ok = |id: Option<&Value>| {
        matches!(
            id,
            None | Some(Value::Number(_) | Value::String(_) | Value::Null)
        )
    };
    match m.get("method") {
        Some(Value::String(_)) => {
            id_ok(m.get("id"))
                && matches!(
                    m.get("params"),
                    None | Some(Value::Object(_) | Value::Array(_) | Value::Null)
                )
        }
        Some(_) => false,
        None => m.contains_key("id") && (m.contains_key("result") || m.contains_key("error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_jsonrpc_shapes() {
        assert!(is_jsonrpc(
            br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{}}"#
        ));
        assert!(is_jsonrpc(br#"{"jsonrpc":"2.0","method":"x"}"#));
        assert!(is_jsonrpc(br#"{"jsonrpc":"2.0","id":1,"result":null}"#));
        assert!(!is_jsonrpc(b"{ not json"));
        assert!(!is_jsonrpc(br#"{"id":1,"method":"x"}"#));
        assert!(!is_jsonrpc(br#"{"jsonrpc":"2.0","method":3}"#));
        assert!(!is_jsonrpc(br#"[1,2]"#));
    }

    #[test]
    fn dollar_requests_are_renamed_and_dollar_notifications_are_not() {
        let req = br#"{"jsonrpc":"2.0","id":7,"method":"$/tl/nothing","params":{}}"#.to_vec();
        let out: Value = serde_json::from_slice(&reroute_dollar_request(req)).unwrap();
        assert_eq!(out["method"], "tl/unhandled/$/tl/nothing");
        assert_eq!(out["id"], 7);
        let note = br#"{"jsonrpc":"2.0","method":"$/tl/nothing","params":{}}"#.to_vec();
        assert_eq!(reroute_dollar_request(note.clone()), note);
        let plain = br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#.to_vec();
        assert_eq!(reroute_dollar_request(plain.clone()), plain);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn malformed_frames_become_placeholders() {
        let good = r#"{"jsonrpc":"2.0","method":"a"}"#;
        let input = format!(
            "Content-Length: 5\r\n\r\n{{bad}}Content-Length: {}\r\n\r\n{good}",
            good.len()
        );
        let mut out = guard(std::io::Cursor::new(input.into_bytes()));
        let mut text = String::new();
        out.read_to_string(&mut text).await.unwrap();
        assert_eq!(
            text,
            format!(
                "Content-Length: {}\r\n\r\n{PLACEHOLDER}Content-Length: {}\r\n\r\n{good}",
                PLACEHOLDER.len(),
                good.len()
            )
        );
    }
}
