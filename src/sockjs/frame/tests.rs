//! sockjs-node 0.3.24's own behaviour, byte for byte.
use super::*;

// Expected strings marked "node" were produced by running sockjs-node
// 0.3.24's own lib/utils.js (quote, escape_selected, md5_hex) under Node 20.

#[test]
fn protocol_basic_frames() {
    // Protocol.test_simpleSession / test_closeSession (xhr wrapping).
    assert_eq!(xhr_frame(OPEN_FRAME), "o\n");
    assert_eq!(xhr_frame(&encode_messages(&["a"])), "a[\"a\"]\n");
    assert_eq!(
        xhr_frame(&encode_close(3000, "Go away!")),
        "c[3000,\"Go away!\"]\n"
    );
    let (code, reason) = CLOSE_ANOTHER_CONNECTION;
    assert_eq!(
        xhr_frame(&encode_close(code, reason)),
        "c[2010,\"Another connection still open\"]\n"
    );
    let (code, reason) = CLOSE_NORMAL;
    assert_eq!(encode_close(code, reason), "c[1000,\"Normal closure\"]");
    assert_eq!(HEARTBEAT_FRAME, "h");
}

#[test]
fn messages_accept_str_and_string_slices() {
    let owned = vec![String::from("x"), String::from("y"), String::new()];
    assert_eq!(encode_messages(&owned), "a[\"x\",\"y\",\"\"]");
    assert_eq!(encode_messages::<&str>(&[]), "a[]");
    // XhrPolling.test_content_types: eight "a" in one frame.
    assert_eq!(
        encode_messages(&["a"; 8]),
        "a[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]"
    );
}

#[test]
fn quote_control_chars_like_json_stringify() {
    // node
    assert_eq!(
        encode_messages(&["\u{0}\u{1}\u{8}\u{9}\n\u{c}\r\u{1f}\"\\/"]),
        "a[\"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\"]"
    );
}

#[test]
fn quote_escapes_only_sockjs_node_ranges() {
    // node: U+007F-009F, U+00AD, U+0600, U+070F, U+17B4, U+200B, U+FEFF
    // stay raw; 200c-200f, 2028-202f, 2060-206f, fff0-ffff are escaped.
    let input = "\u{7f}\u{80}\u{9f}\u{ad}\u{600}\u{70f}\u{17b4}\u{200b}\u{200c}\u{200f}\u{2027}\u{2028}\u{202f}\u{2030}\u{205f}\u{2060}\u{206f}\u{2070}\u{feff}\u{ffef}\u{fff0}\u{ffff}";
    assert_eq!(
        encode_messages(&[input]),
        "a[\"\u{7f}\u{80}\u{9f}\u{ad}\u{600}\u{70f}\u{17b4}\u{200b}\\u200c\\u200f\u{2027}\\u2028\\u202f\u{2030}\u{205f}\\u2060\\u206f\u{2070}\u{feff}\u{ffef}\\ufff0\\uffff\"]"
    );
}

#[test]
fn quote_escapes_astral_chars_as_surrogate_pairs() {
    // node
    assert_eq!(
        encode_messages(&["\u{1f600}", "\u{e9}\u{20ac}", "\u{10ffff}", "\u{10000}"]),
        "a[\"\\ud83d\\ude00\",\"\u{e9}\u{20ac}\",\"\\udbff\\udfff\",\"\\ud800\\udc00\"]"
    );
    assert_eq!(quote("plain"), "\"plain\"");
}

#[test]
fn close_reason_uses_plain_json_stringify() {
    // node: 'c' + JSON.stringify([1000, reason]) leaves U+2028, U+200C
    // and astral chars raw.
    assert_eq!(
        encode_close(1000, "a\"b\\c\n\u{2028}\u{1}\u{1f600}\u{200c}"),
        "c[1000,\"a\\\"b\\\\c\\n\u{2028}\\u0001\u{1f600}\u{200c}\"]"
    );
    assert_eq!(json_stringify("\u{7f}\u{1f}"), "\"\u{7f}\\u001f\"");
}

/// JSONEncoding.test_xhr_server_encodes: every char in 255..65536 that
/// matches `escapable_by_server` must come back as its `\uXXXX` escape.
#[test]
fn protocol_server_killer_string() {
    let in_set = |c: u32| {
        c <= 0x1f
            || (0x200c..=0x200f).contains(&c)
            || (0x2028..=0x202f).contains(&c)
            || (0x2060..=0x206f).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
    };
    let mut raw = String::new();
    let mut esc = String::from("\"");
    for c in (255u32..65536).filter(|c| in_set(*c)) {
        raw.push(char::from_u32(c).unwrap());
        esc.push_str(&format!("\\u{c:04x}"));
    }
    esc.push('"');
    let frame = xhr_frame(&encode_messages(&[raw.as_str()]));
    let recv = &frame.trim()[2..frame.trim().len() - 1];
    assert_eq!(recv, esc);
}

/// JSONEncoding.test_xhr_server_decodes, generalised: every BMP
/// non-surrogate code point sent as `\uXXXX` decodes to itself.
#[test]
fn protocol_client_killer_string() {
    let mut body = String::from("[\"");
    let mut expected = String::new();
    for c in (0u32..65536).filter(|c| !(0xd800..0xe000).contains(c)) {
        body.push_str(&format!("\\u{c:04x}"));
        expected.push(char::from_u32(c).unwrap());
    }
    body.push_str("\"]");
    assert_eq!(
        decode_xhr_send(None, body.as_bytes()).unwrap(),
        vec![expected]
    );
}

#[test]
fn eventsource_wrapping() {
    // EventSource.test_transport
    assert_eq!(EVENTSOURCE_PRELUDE, "\r\n");
    assert_eq!(eventsource_frame("o"), "data: o\r\n\r\n");
    assert_eq!(
        eventsource_frame(&encode_messages(&["x"])),
        "data: a[\"x\"]\r\n\r\n"
    );
    let msgs = decode_xhr_send(None, br#"["  \u0000\n\r "]"#).unwrap();
    assert_eq!(
        eventsource_frame(&encode_messages(&msgs)),
        "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n"
    );
    // node: escape_selected also escapes '%'.
    assert_eq!(
        eventsource_frame(&encode_messages(&["100%"])),
        "data: a[\"100%25\"]\r\n\r\n"
    );
    assert_eq!(
        eventsource_frame("c[1,\"%\r\n\0\"]"),
        "data: c[1,\"%25%0D%0A%00\"]\r\n\r\n"
    );
}

#[test]
fn xhr_streaming_prelude() {
    assert_eq!(XHR_STREAMING_PRELUDE.len(), 2049);
    assert_eq!(XHR_STREAMING_PRELUDE, format!("{}\n", "h".repeat(2048)));
}

#[test]
fn htmlfile_prelude_matches_protocol_head() {
    // HtmlFile.test_transport: d.strip() == head % 'callback', len > 1024.
    let head = "<!doctype html>\n<html><head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n    var c = parent.callback;\n    c.start();\n    function p(d) {c.message(d);};\n    window.onload = function() {c.stop();};\n  </script>";
    let d = htmlfile_prelude("callback");
    assert_eq!(d.trim(), head);
    assert!(d.starts_with(head));
    // node: 1041 with the placeholder, so 1027 + callback length.
    assert_eq!(d.len(), 1035);
    assert!(d.ends_with("  \r\n\r\n"));
    assert_eq!(htmlfile_prelude("c").len(), 1028);
    assert!(d[head.len()..d.len() - 4].bytes().all(|b| b == b' '));
}

#[test]
fn htmlfile_frames() {
    // HtmlFile.test_transport / test_response_limit
    assert_eq!(htmlfile_frame("o"), "<script>\np(\"o\");\n</script>\r\n");
    assert_eq!(
        htmlfile_frame(&encode_messages(&["x"])),
        "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
    );
    let msg = "x".repeat(4096);
    assert_eq!(
        htmlfile_frame(&encode_messages(&[msg.as_str()])),
        format!("<script>\np(\"a[\\\"{msg}\\\"]\");\n</script>\r\n")
    );
    // node
    assert_eq!(
        htmlfile_frame(&encode_close(1, "\u{e9}\u{2028}")),
        "<script>\np(\"c[1,\\\"\u{e9}\u{2028}\\\"]\");\n</script>\r\n"
    );
}

#[test]
fn jsonp_frames() {
    // JsonPolling.test_transport / test_invalid_json / test_content_types / test_close
    assert_eq!(jsonp_frame("callback", "o"), "/**/callback(\"o\");\r\n");
    assert_eq!(
        jsonp_frame("callback", &encode_messages(&["x"])),
        "/**/callback(\"a[\\\"x\\\"]\");\r\n"
    );
    assert_eq!(
        jsonp_frame("x", &encode_messages(&["b"])),
        "/**/x(\"a[\\\"b\\\"]\");\r\n"
    );
    assert_eq!(
        jsonp_frame("x", &encode_messages(&["abc", "%61bc"])),
        "/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n"
    );
    assert_eq!(
        jsonp_frame("x", &encode_close(3000, "Go away!")),
        "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
    );
    // node: the quote() escapes get their backslashes doubled.
    assert_eq!(
        jsonp_frame("cb", &encode_messages(&["x", "\u{2028}\"", "\u{1f600}"])),
        "/**/cb(\"a[\\\"x\\\",\\\"\\\\u2028\\\\\\\"\\\",\\\"\\\\ud83d\\\\ude00\\\"]\");\r\n"
    );
}

#[test]
fn callback_required_and_invalid() {
    use CallbackTransport::{Htmlfile, Jsonp};
    for t in [Jsonp, Htmlfile] {
        // test_no_callback
        assert_eq!(
            callback_from_query(None, t),
            Err(FrameError::CallbackRequired)
        );
        assert_eq!(
            callback_from_query(Some("x=1"), t),
            Err(FrameError::CallbackRequired)
        );
        // test_invalid_callback
        for bad in ["%20", "*", "abc(", "abc%28"] {
            let q = format!("c={bad}");
            assert_eq!(
                callback_from_query(Some(&q), t),
                Err(FrameError::InvalidCallback),
                "{bad}"
            );
        }
        assert_eq!(
            callback_from_query(Some("c=%63allback"), t).as_deref(),
            Ok("callback")
        );
        assert_eq!(
            callback_from_query(Some("callback=_jp.a1b2c3"), t).as_deref(),
            Ok("_jp.a1b2c3")
        );
        assert_eq!(
            callback_from_query(Some("callback=y&c=x"), t).as_deref(),
            Ok("x")
        );
        assert_eq!(
            callback_from_query(Some("c=a-b_c.d"), t).as_deref(),
            Ok("a-b_c.d")
        );
        assert_eq!(callback_from_query(Some("c="), t).as_deref(), Ok(""));
        assert_eq!(callback_from_query(Some("c"), t).as_deref(), Ok(""));
        assert_eq!(
            callback_from_query(Some("c=a&c=b"), t),
            Err(FrameError::InvalidCallback)
        );
        assert_eq!(
            callback_from_query(Some("c=a+b"), t),
            Err(FrameError::InvalidCallback)
        );
    }
    let long = format!("c={}", "a".repeat(33));
    assert_eq!(
        callback_from_query(Some(&long), Jsonp),
        Err(FrameError::InvalidCallback)
    );
    assert!(callback_from_query(Some(&long), Htmlfile).is_ok());
    assert!(validate_callback(&"a".repeat(32), Jsonp).is_ok());
}

#[test]
fn error_texts_and_statuses() {
    assert_eq!(FrameError::PayloadExpected.to_string(), "Payload expected.");
    assert_eq!(FrameError::BrokenJson.to_string(), "Broken JSON encoding.");
    assert_eq!(
        FrameError::CallbackRequired.to_string(),
        "\"callback\" parameter required"
    );
    assert_eq!(
        FrameError::InvalidCallback.to_string(),
        "invalid \"callback\" parameter"
    );
    assert_eq!(FrameError::BrokenFraming.to_string(), "Broken framing.");
    assert_eq!(FrameError::BrokenJson.http_status(), Some(500));
    assert_eq!(FrameError::BrokenFraming.http_status(), None);
    assert_eq!(
        FrameError::BrokenFraming.websocket_close(),
        Some((3000, "Broken framing."))
    );
    assert_eq!(FrameError::PayloadExpected.websocket_close(), None);
}

#[test]
fn xhr_send_decoding() {
    // XhrPolling.test_invalid_json / test_sending_empty_frame
    assert_eq!(decode_xhr_send(None, b"[\"x"), Err(FrameError::BrokenJson));
    assert_eq!(decode_xhr_send(None, b""), Err(FrameError::PayloadExpected));
    assert_eq!(decode_xhr_send(None, b"[\"a\"]").unwrap(), vec!["a"]);
    assert!(decode_xhr_send(None, b"[]").unwrap().is_empty());
    for not_array in ["{}", "\"a\"", "null", "0", "1", "true", "\"\""] {
        assert_eq!(
            decode_xhr_send(None, not_array.as_bytes()),
            Err(FrameError::PayloadExpected),
            "{not_array}"
        );
    }
    for broken in [
        " ",
        "[",
        "[1,]",
        "[01]",
        "['a']",
        "[\"\t\"]",
        "[\"\\x\"]",
        "\u{feff}[]",
    ] {
        assert_eq!(
            decode_xhr_send(None, broken.as_bytes()),
            Err(FrameError::BrokenJson),
            "{broken:?}"
        );
    }
    assert_eq!(
        decode_xhr_send(None, b" \r\n\t[ \"a\" , \"b\" ]\n").unwrap(),
        vec!["a", "b"]
    );
}

#[test]
fn xhr_send_content_types() {
    // XhrPolling.test_content_types
    for ct in [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ] {
        assert_eq!(
            decode_xhr_send(Some(ct), b"[\"a\"]").unwrap(),
            vec!["a"],
            "{ct}"
        );
    }
    for ct in [
        "text/html",
        "Text/Plain",
        "application/x-www-form-urlencoded",
    ] {
        assert_eq!(
            decode_xhr_send(Some(ct), b"[\"a\"]"),
            Err(FrameError::PayloadExpected),
            "{ct}"
        );
    }
}

#[test]
fn non_string_messages_become_js_strings() {
    assert_eq!(
        decode_xhr_send(
            None,
            br#"[1,null,true,false,{"k":[1]},[1,[2,[3,null]],"a"],-0,1.50]"#
        )
        .unwrap(),
        vec![
            "1",
            "null",
            "true",
            "false",
            "[object Object]",
            "1,2,3,,a",
            "0",
            "1.5"
        ]
    );
}

#[test]
fn js_number_formatting_matches_node() {
    // node: '' + x
    let cases: [(f64, &str); 14] = [
        (1.0, "1"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123456789012345680000.0, "123456789012345680000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1.5e-6, "0.0000015"),
        (0.000001, "0.000001"),
        (-2.5e-9, "-2.5e-9"),
        (f64::INFINITY, "Infinity"),
    ];
    for (x, s) in cases {
        assert_eq!(js_number_to_string(x), s);
    }
    assert_eq!(decode_xhr_send(None, b"[1e400]").unwrap(), vec!["Infinity"]);
}

#[test]
fn surrogate_escapes() {
    assert_eq!(
        decode_xhr_send(None, br#"["\ud83d\ude00"]"#).unwrap(),
        vec!["\u{1f600}"]
    );
    // Lone surrogates: accepted by JSON.parse, replaced here.
    assert_eq!(
        decode_xhr_send(
            None,
            br#"["\ud800","a\udc00b","\ude00\ud83d","\ud83d\u0041"]"#
        )
        .unwrap(),
        vec!["\u{fffd}", "a\u{fffd}b", "\u{fffd}\u{fffd}", "\u{fffd}A"]
    );
    assert_eq!(
        decode_xhr_send(None, br#"["\ud83d\u00zz"]"#),
        Err(FrameError::BrokenJson)
    );
    assert_eq!(
        decode_xhr_send(None, br#"["\uD83D\uDE00"]"#).unwrap(),
        vec!["\u{1f600}"]
    );
}

#[test]
fn invalid_utf8_is_replaced() {
    assert_eq!(
        decode_xhr_send(None, b"[\"a\xffb\"]").unwrap(),
        vec!["a\u{fffd}b"]
    );
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(
        decode_xhr_send(None, deep.as_bytes()),
        Err(FrameError::BrokenJson)
    );
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(decode_xhr_send(None, ok.as_bytes()).unwrap(), vec![""]);
}

#[test]
fn jsonp_send_decoding() {
    let form = Some("application/x-www-form-urlencoded");
    // JsonPolling.test_transport / test_invalid_json / test_sending_empty_frame
    assert_eq!(
        decode_jsonp_send(form, b"d=%5B%22x%22%5D").unwrap(),
        vec!["x"]
    );
    assert_eq!(
        decode_jsonp_send(form, b"d=%5B%22x"),
        Err(FrameError::BrokenJson)
    );
    for data in ["", "d=", "p=p"] {
        assert_eq!(
            decode_jsonp_send(form, data.as_bytes()),
            Err(FrameError::PayloadExpected),
            "{data}"
        );
    }
    assert!(decode_jsonp_send(form, b"d=%5B%5D").unwrap().is_empty());
    // JsonPolling.test_content_types
    assert_eq!(
        decode_jsonp_send(form, b"d=%5B%22abc%22%5D").unwrap(),
        vec!["abc"]
    );
    assert_eq!(
        decode_jsonp_send(Some("text/plain"), b"[\"%61bc\"]").unwrap(),
        vec!["%61bc"]
    );
    assert_eq!(
        decode_jsonp_send(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"d=[\"a+b\"]"
        )
        .unwrap(),
        vec!["a b"]
    );
    // Repeated d: the raw values are the messages.
    assert_eq!(
        decode_jsonp_send(form, b"d=a+b%20c&d=2").unwrap(),
        vec!["a b c", "2"]
    );
    // text/plain: a JSON string is parsed a second time; form d is not.
    assert_eq!(decode_jsonp_send(None, br#""[\"x\"]""#).unwrap(), vec!["x"]);
    assert_eq!(
        decode_jsonp_send(form, b"d=%22%5B%5D%22"),
        Err(FrameError::PayloadExpected)
    );
    assert_eq!(
        decode_jsonp_send(None, br#""[""#),
        Err(FrameError::BrokenJson)
    );
    assert_eq!(
        decode_jsonp_send(None, br#""""#),
        Err(FrameError::PayloadExpected)
    );
    assert_eq!(
        decode_jsonp_send(Some("text/plain"), b""),
        Err(FrameError::PayloadExpected)
    );
    assert_eq!(
        decode_jsonp_send(Some("application/json"), b"[\"a\"]"),
        Err(FrameError::PayloadExpected)
    );
}

#[test]
fn websocket_decoding() {
    // WebsocketHybi10.test_transport / test_broken_json, Hixie76.test_empty_frame
    assert!(decode_websocket("").unwrap().is_empty());
    assert!(decode_websocket("[]").unwrap().is_empty());
    assert_eq!(decode_websocket("[\"a\"]").unwrap(), vec!["a"]);
    assert_eq!(decode_websocket("[\"a"), Err(FrameError::BrokenFraming));
    assert_eq!(decode_websocket("\"a\"").unwrap(), vec!["a"]);
    assert_eq!(decode_websocket(" [\"a\",\"b\"]").unwrap(), vec!["a,b"]);
    assert_eq!(decode_websocket("1").unwrap(), vec!["1"]);
    assert_eq!(decode_websocket("{}").unwrap(), vec!["[object Object]"]);
    assert_eq!(
        decode_websocket_binary(b"[\"a\",\"b\"]").unwrap(),
        vec!["a,b"]
    );
    assert!(decode_websocket_binary(b"").unwrap().is_empty());
    assert_eq!(
        decode_websocket_binary(b"[\"a"),
        Err(FrameError::BrokenFraming)
    );
}

#[test]
fn md5_vectors() {
    // RFC 1321 appendix A.5
    let vectors = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    for (input, hex) in vectors {
        assert_eq!(md5_hex(input.as_bytes()), hex, "{input}");
    }
}

#[test]
fn iframe_page_and_etag() {
    // IframePage.verify: body matches the protocol regexp.
    let html = iframe_html(DEFAULT_SOCKJS_URL);
    let expected = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script src=\"{DEFAULT_SOCKJS_URL}\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>"
    );
    assert_eq!(html, expected);
    // node: md5_hex of the same page.
    let etag = iframe_etag(&html);
    assert_eq!(etag, "\"08c88a6396a2481f245d665a53d9dc14\"");
    assert_eq!(
        iframe_etag(&iframe_html("/sockjs.js")),
        "\"5ff84430262941008d61a8033546b552\""
    );
    // IframePage.test_cacheability
    assert!(iframe_not_modified(Some(&etag), &etag));
    assert!(!iframe_not_modified(None, &etag));
    assert!(!iframe_not_modified(
        Some("W/\"08c88a6396a2481f245d665a53d9dc14\""),
        &etag
    ));
}

#[test]
fn iframe_url_dollar_patterns_like_js_replace() {
    // node: template.replace('{{ sockjs_url }}', "/a$&b$$c$'d$`e$1")
    let html = iframe_html("/a$&b$$c$'d$`e$1");
    let head = "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script src=\"";
    let tail = "\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>";
    let expected = format!("{head}/a{{{{ sockjs_url }}}}b$c{tail}d{head}e$1{tail}");
    assert_eq!(html, expected);
}

#[test]
fn info_body() {
    let info = Info {
        websocket: true,
        cors: true,
        cookie_needed: false,
        entropy: 4294967295,
        base_url: None,
    };
    assert_eq!(
        info.to_json(),
        "{\"websocket\":true,\"origins\":[\"*:*\"],\"cookie_needed\":false,\"entropy\":4294967295}"
    );
    let info = Info {
        websocket: false,
        cors: false,
        cookie_needed: true,
        entropy: 7,
        base_url: Some("http://x/\"y"),
    };
    assert_eq!(
        info.to_json(),
        "{\"websocket\":false,\"cookie_needed\":true,\"entropy\":7,\"base_url\":\"http://x/\\\"y\"}"
    );
}

#[test]
fn jsessionid_cookie() {
    // JsessionidCookie.test_xhr
    assert_eq!(jsessionid_set_cookie(None), "JSESSIONID=dummy; path=/");
    assert_eq!(
        jsessionid_set_cookie(Some("JSESSIONID=abcdef")),
        "JSESSIONID=abcdef; path=/"
    );
    assert_eq!(
        jsessionid_set_cookie(Some("a=1; JSESSIONID= x ; b=2")),
        "JSESSIONID=x; path=/"
    );
    assert_eq!(
        jsessionid_set_cookie(Some("JSESSIONID=")),
        "JSESSIONID=dummy; path=/"
    );
    assert_eq!(
        jsessionid_set_cookie(Some("JSESSIONID=a=b")),
        "JSESSIONID=a; path=/"
    );
    assert_eq!(
        jsessionid_set_cookie(Some("JSESSIONID=1;JSESSIONID=2")),
        "JSESSIONID=2; path=/"
    );
}

#[test]
fn response_limit_accounting() {
    // XhrStreaming.test_response_limit: 'o\n' + 31 frames of 134 units
    // crosses 4096 exactly on the 31st frame.
    let msg = format!("\"{}\"", "x".repeat(128));
    let frame = xhr_frame(&format!("a[{msg}]"));
    let n = utf16_len(&frame);
    assert_eq!(n, 134);
    assert!(2 + 30 * n < 4096);
    assert!(2 + 31 * n >= 4096);
    assert_eq!(utf16_len("\u{1f600}\u{e9}"), 3);
}
