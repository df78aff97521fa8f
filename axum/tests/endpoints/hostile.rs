//! Hostile input at every endpoint: an RFC 6749 §5.2 error each, never a
//! 500, never a panic, never axum's plain-text rejection.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::support::{Served, TestResult};

const ENDPOINTS: [&str; 5] = [
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/par",
    "/oauth/device_authorization",
];

/// A hostile request: what it is, its content type, its `Authorization`
/// header, its body, and the status and error code every endpoint answers.
struct Hostile<'a> {
    case: &'a str,
    content_type: &'a str,
    authorization: Option<&'a str>,
    body: &'a [u8],
    answer: (u16, &'a str),
}

/// Posts `hostile` to every endpoint: each answers its status with its
/// error code in JSON.
fn each_endpoint_answers(served: &Served, hostile: &Hostile<'_>) {
    let Hostile {
        case,
        content_type,
        authorization,
        body,
        answer: (status, code),
    } = hostile;
    for path in ENDPOINTS {
        let mut request = served
            .http
            .post(served.url(path))
            .header("content-type", *content_type)
            .body(body.to_vec());
        if let Some(value) = authorization {
            request = request.header("authorization", *value);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status().as_u16(), *status, "{case} at {path}");
        let media_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            media_type.starts_with("application/json"),
            "{case} at {path}"
        );
        let answer: Value = response.json().unwrap();
        assert_eq!(answer["error"], *code, "{case} at {path}");
    }
}

/// A body every endpoint reads far enough to authenticate the client.
const CREDENTIALS_CASE: &[u8] = b"grant_type=client_credentials&token=a&response_type=code";

#[test]
fn hostile_bodies_and_credentials_get_rfc_errors() -> TestResult {
    let served = Served::start();
    let client = served.service_client();
    let secret = client.secret.clone().unwrap();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{secret}", client.id))
    );
    let no_colon = format!("Basic {}", STANDARD.encode("nocolon"));
    let both = format!("token=a&client_secret={secret}");
    let (form, json) = ("application/x-www-form-urlencoded", "application/json");
    let bad_request = (400, "invalid_request");
    let unauthenticated = (401, "invalid_client");
    #[rustfmt::skip]
    let cases = [
        ("invalid UTF-8", form, Some(basic.as_str()), b"grant_type=\xff\xfe&token=\xc3".as_slice(), bad_request),
        ("a repeated parameter", form, Some(&basic), b"token=a&token=b&grant_type=x&grant_type=y&response_type=code&response_type=code", bad_request),
        ("Basic without a colon", form, Some(&no_colon), CREDENTIALS_CASE, unauthenticated),
        ("Basic that is not base64", form, Some("Basic %%%"), CREDENTIALS_CASE, unauthenticated),
        ("Basic and body credentials", form, Some(&basic), both.as_bytes(), bad_request),
        ("a JSON object member", json, Some(&basic), br#"{"token": {"nested": 1}}"#, bad_request),
        ("JSON that is not an object", json, Some(&basic), b"[1,2]", bad_request),
        ("truncated JSON", json, Some(&basic), br#"{"token": "#, bad_request),
        ("a repeated JSON member", json, Some(&basic), br#"{"token": "a", "token": "b"}"#, bad_request),
        ("another media type", "text/plain", Some(&basic), b"token=a", bad_request),
        ("no credentials", form, None, CREDENTIALS_CASE, unauthenticated),
        ("an id that is no id", form, None, b"client_id=%00%01&grant_type=client_credentials&token=a&response_type=code", unauthenticated),
    ];
    for (case, content_type, authorization, body, answer) in cases {
        each_endpoint_answers(
            &served,
            &Hostile {
                case,
                content_type,
                authorization,
                body,
                answer,
            },
        );
    }
    Ok(())
}

/// Hostile queries at the authorization page and hostile tokens at a
/// resource server: errors, never a 500.
#[test]
fn hostile_queries_and_tokens_get_errors() -> TestResult {
    let served = Served::start();
    let client = served.code_client();
    for query in [
        format!(
            "client_id={}&client_id={}&response_type=code",
            client.id, client.id
        ),
        "client_id=%ff%fe".to_owned(),
        format!(
            "client_id={}&response_type=code&redirect_uri={}",
            client.id,
            "x".repeat(10_000)
        ),
    ] {
        let response = served
            .http
            .get(format!("{}?{query}", served.url("/authorize")))
            .send()?;
        assert_eq!(response.status(), 400, "{query:.60}");
    }
    for token in ["a".repeat(8_000), "..".to_owned(), "gdb_at_".to_owned()] {
        let response = served
            .http
            .get(served.url("/me"))
            .header("authorization", format!("Bearer {token}"))
            .send()?;
        assert!(
            matches!(response.status().as_u16(), 400 | 401),
            "{token:.20}"
        );
    }
    let not_text = served
        .http
        .get(served.url("/me"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff")?,
        )
        .send()?;
    assert_eq!(not_text.status(), 400);
    Ok(())
}

/// A 10 MB body, sent as a real client streams it (the server answers `413`
/// before reading it, so the client may still be writing when the answer
/// comes: the answer is read while the body goes out), with its length
/// declared and chunked.
#[test]
fn ten_megabyte_bodies_are_413_at_every_endpoint() -> TestResult {
    let served = Served::start();
    let address = served.base.trim_start_matches("http://").to_owned();
    for path in ENDPOINTS {
        for chunked in [false, true] {
            let (status, body) = streamed(&address, path, 10 * 1024 * 1024, chunked)?;
            assert_eq!(status, 413, "{path} chunked={chunked}");
            let answer: Value = serde_json::from_str(&body)?;
            assert_eq!(
                answer["error"], "invalid_request",
                "{path} chunked={chunked}"
            );
        }
    }
    Ok(())
}

/// Posts `size` bytes of form body to `path` over a raw connection: the
/// status and body of the answer.
fn streamed(
    address: &str,
    path: &str,
    size: usize,
    chunked: bool,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {size}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-www-form-urlencoded\r\n{framing}\r\nconnection: close\r\n\r\n"
    );
    let mut writer = stream.try_clone()?;
    let sending = std::thread::spawn(move || {
        // Stops at the first error: the server closed the connection.
        let _ = writer.write_all(head.as_bytes());
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            let framed = if chunked {
                [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk.clone(),
                    b"\r\n".to_vec(),
                ]
                .concat()
            } else {
                chunk.clone()
            };
            if writer.write_all(&framed).is_err() {
                return;
            }
            sent += chunk.len();
        }
        if chunked {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
        }
    }
    let _ = sending.join();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no complete answer")?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse()?;
    Ok((status, body.to_owned()))
}
