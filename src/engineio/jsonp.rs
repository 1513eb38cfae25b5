//! JSONP polling (EIO3 clients without XHR, selected by the `j` query parameter).
//!
//! Responses wrap the EIO3 text-form payload in a script:
//! `___eio[<j>]("<payload as a JSON string>");`, where the JSON string is
//! escaped like JavaScript's `JSON.stringify` and then U+2028 / U+2029 are
//! escaped as `\u2028` / `\u2029` (they end a line in pre-ES2019 JavaScript).
//!
//! Requests are posted from a hidden form as `application/x-www-form-urlencoded`
//! with the payload in the `d` field. Before posting, the client turns each
//! `\n` escape already in the data (backslash, `n`) into backslash + newline
//! and then every real newline into `\n` (backslash, `n`); the server undoes
//! that: a `\n` not preceded by a backslash becomes a newline, then `\\n`
//! becomes `\n`.

use super::packet::DecodeError;

/// Checks a JSONP callback index (the `j` query parameter): one or more ASCII
/// digits without a leading zero (`"0"` itself is allowed). Leading zeros are
/// refused because `___eio[010]` is an octal literal (8) in sloppy-mode
/// JavaScript, so it would call the wrong callback.
pub(crate) fn validate_jsonp_index(index: &str) -> Result<&str, DecodeError> {
    let bytes = index.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    if canonical {
        Ok(index)
    } else {
        Err(DecodeError::InvalidJsonpIndex)
    }
}

/// Escapes `text` as a double-quoted JSON string literal exactly as
/// JavaScript's `JSON.stringify` does (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
/// `\t`, other controls below U+0020 as lowercase `\u00xx`, everything else
/// verbatim), then escapes U+2028 and U+2029 as `\u2028` and `\u2029`.
pub(crate) fn jsonp_escape(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if c < ' ' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds a JSONP response body `___eio[<index>]("<escaped payload>");` for
/// an EIO3 text-form payload; fails if `index` is not valid (see
/// [`validate_jsonp_index`]).
pub(crate) fn encode_jsonp(index: &str, payload: &str) -> Result<String, DecodeError> {
    let index = validate_jsonp_index(index)?;
    let escaped = jsonp_escape(payload);
    let mut out = String::with_capacity(escaped.len() + index.len() + 11);
    out.push_str("___eio[");
    out.push_str(index);
    out.push_str("](");
    out.push_str(&escaped);
    out.push_str(");");
    Ok(out)
}

/// Decodes a JSONP POST body (`application/x-www-form-urlencoded`): takes the
/// single `d` field (`+` as space, `%XX` decoded, invalid UTF-8 replaced by
/// U+FFFD) and restores the client's newline escapes with
/// [`unescape_jsonp_newlines`]. The result is an EIO3 text-form payload.
///
/// engine.io ignores a body without exactly one `d` field; this reports it as
/// [`DecodeError::MissingJsonpData`] or [`DecodeError::DuplicateJsonpData`].
pub(crate) fn decode_jsonp_body(body: &[u8]) -> Result<String, DecodeError> {
    let mut data = None;
    for (key, value) in form_urlencoded::parse(body) {
        if key == "d" {
            if data.is_some() {
                return Err(DecodeError::DuplicateJsonpData);
            }
            data = Some(value);
        }
    }
    let data = data.ok_or(DecodeError::MissingJsonpData)?;
    Ok(unescape_jsonp_newlines(&data))
}

/// Restores the newlines a JSONP client escaped, for data that is already
/// form-decoded (or came as a plain body): each `\n` (backslash, `n`) not
/// preceded by a backslash becomes a newline; then each `\\n` (two
/// backslashes, `n`) becomes `\n` (backslash, `n`). Scanning is left to
/// right, like engine.io's two global regex replacements.
pub(crate) fn unescape_jsonp_newlines(data: &str) -> String {
    // Pass 1: /(\\)?\\n/g -> keep the match if the backslash group matched,
    // else a newline. Only ASCII bytes are matched, so slicing stays on char
    // boundaries.
    let bytes = data.as_bytes();
    let mut first = String::with_capacity(data.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'\\') && bytes.get(i + 2) == Some(&b'n') {
                i += 3;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'n') {
                first.push_str(&data[copied..i]);
                first.push('\n');
                i += 2;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    first.push_str(&data[copied..]);
    // Pass 2: /\\\\n/g -> "\\n".
    first.replace("\\\\n", "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::packet::Packet;
    use super::super::payload::{decode_payload_v3_string, encode_payload_v3_string};
    use super::*;

    /// What engine.io-client's JSONP `doWrite` does before posting.
    fn client_escape(data: &str) -> String {
        data.replace("\\n", "\\\n").replace('\n', "\\n")
    }

    fn form_encode(data: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("d", data)
            .finish()
    }

    #[test]
    fn index_validation() {
        for ok in ["0", "4", "10", "123456"] {
            assert_eq!(validate_jsonp_index(ok), Ok(ok));
        }
        for bad in [
            "",
            "-1",
            "1a",
            " 1",
            "1 ",
            "01",
            "00",
            "١",
            "0x1",
            "1]);alert(1);//",
        ] {
            assert_eq!(
                validate_jsonp_index(bad),
                Err(DecodeError::InvalidJsonpIndex),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encode_doc_example() {
        assert_eq!(
            encode_jsonp("4", "packet data").unwrap(),
            r#"___eio[4]("packet data");"#
        );
        assert_eq!(
            encode_jsonp("0", "4:4hey").unwrap(),
            r#"___eio[0]("4:4hey");"#
        );
        assert_eq!(
            encode_jsonp("x", "1:6"),
            Err(DecodeError::InvalidJsonpIndex)
        );
    }

    #[test]
    fn escaping_matches_json_stringify() {
        assert_eq!(jsonp_escape(""), r#""""#);
        assert_eq!(jsonp_escape(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            jsonp_escape("\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}"),
            "\"\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}\""
        );
        assert_eq!(jsonp_escape("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
        assert_eq!(jsonp_escape("€😀</script>"), "\"€😀</script>\"");
        // Same as serde_json apart from the two line separators.
        let sample = "x\"\\\u{1}\u{1b}\n€😀\u{2028}";
        let ours = jsonp_escape(sample);
        let theirs = serde_json::to_string(sample)
            .unwrap()
            .replace('\u{2028}', "\\u2028");
        assert_eq!(ours, theirs);
        assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), sample);
    }

    #[test]
    fn encode_full_payload() {
        let payload = encode_payload_v3_string(&[
            Packet::message_text("say \"hi\"\n"),
            Packet::message_text("\u{2028}"),
        ]);
        assert_eq!(payload, "10:4say \"hi\"\n2:4\u{2028}");
        assert_eq!(
            encode_jsonp("12", &payload).unwrap(),
            r#"___eio[12]("10:4say \"hi\"\n2:4\u2028");"#
        );
    }

    #[test]
    fn newline_unescaping() {
        assert_eq!(unescape_jsonp_newlines(r"a\nb"), "a\nb");
        assert_eq!(unescape_jsonp_newlines(r"a\\nb"), r"a\nb");
        assert_eq!(unescape_jsonp_newlines(r"\n\n"), "\n\n");
        assert_eq!(unescape_jsonp_newlines(r"\\\n"), r"\\n");
        assert_eq!(unescape_jsonp_newlines(r"\\\\n"), r"\\\n");
        assert_eq!(unescape_jsonp_newlines(r"a\tb\\"), r"a\tb\\");
        assert_eq!(unescape_jsonp_newlines(r"€\n😀\"), "€\n😀\\");
        assert_eq!(unescape_jsonp_newlines(""), "");
    }

    #[test]
    fn form_body_decoding() {
        assert_eq!(decode_jsonp_body(b"d=4%3A4hey").unwrap(), "4:4hey");
        assert_eq!(decode_jsonp_body(b"d=6:4hello").unwrap(), "6:4hello");
        assert_eq!(decode_jsonp_body(b"d=8:4a+b%2Bc").unwrap(), "8:4a b+c");
        assert_eq!(
            decode_jsonp_body(b"x=1&d=2%3A4%E2%82%AC&y=").unwrap(),
            "2:4€"
        );
        assert_eq!(decode_jsonp_body(b"d=2%3A4%5Cn").unwrap(), "2:4\n");
        assert_eq!(decode_jsonp_body(b"d=").unwrap(), "");
        assert_eq!(decode_jsonp_body(b"d=%ZZ").unwrap(), "%ZZ");
        assert_eq!(decode_jsonp_body(b"d=%FF").unwrap(), "\u{fffd}");
    }

    #[test]
    fn form_body_malformed() {
        assert_eq!(decode_jsonp_body(b""), Err(DecodeError::MissingJsonpData));
        assert_eq!(
            decode_jsonp_body(b"4:4hey"),
            Err(DecodeError::MissingJsonpData)
        );
        assert_eq!(
            decode_jsonp_body(b"data=1:2"),
            Err(DecodeError::MissingJsonpData)
        );
        assert_eq!(
            decode_jsonp_body(b"d=1:2&d=1:3"),
            Err(DecodeError::DuplicateJsonpData)
        );
    }

    #[test]
    fn client_escape_round_trip() {
        let messages = [
            "line1\nline2",
            r#"["chat","a\nb"]"#,
            "both\n\\n\\\\n",
            "\r\n",
            "€😀\u{2028}",
        ];
        let packets: Vec<Packet> = messages.iter().map(|m| Packet::message_text(*m)).collect();
        let payload = encode_payload_v3_string(&packets);
        let body = form_encode(&client_escape(&payload));
        let decoded = decode_jsonp_body(body.as_bytes()).unwrap();
        assert_eq!(decoded, payload);
        assert_eq!(decode_payload_v3_string(&decoded).unwrap(), packets);
    }
}
