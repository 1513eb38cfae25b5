//! A `JSON.parse`-compatible parser for what clients send (lone surrogates included), and
//! JavaScript's string conversion of the values it yields.

use std::fmt::Write as _;

// JSON.parse-compatible parser (private)

/// A parsed JSON value; objects are validated but their content is dropped,
/// since only their JS string form (`[object Object]`) is ever needed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JsValue {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<JsValue>),
    Object,
}

/// Nesting deeper than this is reported as broken JSON (V8 would accept it;
/// the limit only protects our stack).
const MAX_JSON_DEPTH: usize = 1000;

pub(super) fn json_parse(text: &str) -> Option<JsValue> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    (p.pos == p.bytes.len()).then_some(value)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<JsValue> {
        if depth > MAX_JSON_DEPTH {
            return None;
        }
        match self.peek()? {
            b'[' => self.array(depth),
            b'{' => self.object(depth),
            b'"' => self.string().map(JsValue::Str),
            b't' => self.literal("true", JsValue::Bool(true)),
            b'f' => self.literal("false", JsValue::Bool(false)),
            b'n' => self.literal("null", JsValue::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: JsValue) -> Option<JsValue> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Some(value)
        } else {
            None
        }
    }

    fn array(&mut self, depth: usize) -> Option<JsValue> {
        self.pos += 1;
        self.skip_ws();
        let mut items = Vec::new();
        if self.eat(b']') {
            return Some(JsValue::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(b']') {
                return Some(JsValue::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip_ws();
        }
    }

    fn object(&mut self, depth: usize) -> Option<JsValue> {
        self.pos += 1;
        self.skip_ws();
        if self.eat(b'}') {
            return Some(JsValue::Object);
        }
        loop {
            if self.peek() != Some(b'"') {
                return None;
            }
            self.string()?;
            self.skip_ws();
            if !self.eat(b':') {
                return None;
            }
            self.skip_ws();
            self.value(depth + 1)?;
            self.skip_ws();
            if self.eat(b'}') {
                return Some(JsValue::Object);
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip_ws();
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<JsValue> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Rust's parse is correctly rounded like JS; overflow gives ±inf.
        self.src[start..self.pos].parse().ok().map(JsValue::Number)
    }

    fn hex4_at(&self, at: usize) -> Option<u32> {
        let h = self.bytes.get(at..at + 4)?;
        let mut v = 0u32;
        for &b in h {
            v = v * 16 + (b as char).to_digit(16)?;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(&self.src[run..self.pos]);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    let esc = *self.bytes.get(self.pos + 1)?;
                    self.pos += 2;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4_at(self.pos)?;
                            self.pos += 4;
                            out.push(self.finish_unit(unit));
                        }
                        _ => return None,
                    }
                }
                _ => return None, // raw control character
            }
        }
    }

    /// Turns a `\uXXXX` code unit into a char, pairing a high surrogate with
    /// an immediately following `\uDC00-\uDFFF`; lone surrogates → U+FFFD.
    fn finish_unit(&mut self, unit: u32) -> char {
        let is_high = (0xd800..0xdc00).contains(&unit);
        let low = if is_high && self.bytes[self.pos..].starts_with(b"\\u") {
            self.hex4_at(self.pos + 2)
                .filter(|low| (0xdc00..0xe000).contains(low))
        } else {
            None
        };
        if let Some(low) = low {
            self.pos += 6;
            let cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            return char::from_u32(cp).unwrap_or('\u{fffd}');
        }
        char::from_u32(unit).unwrap_or('\u{fffd}')
    }
}

pub(super) fn into_messages(items: Vec<JsValue>) -> Vec<String> {
    items.into_iter().map(into_message).collect()
}

pub(super) fn into_message(value: JsValue) -> String {
    match value {
        JsValue::Str(s) => s,
        other => js_to_string(&other),
    }
}

/// JavaScript `String(value)` for a JSON value.
fn js_to_string(value: &JsValue) -> String {
    match value {
        JsValue::Null => "null".to_owned(),
        JsValue::Bool(b) => b.to_string(),
        JsValue::Number(n) => js_number_to_string(*n),
        JsValue::Str(s) => s.clone(),
        JsValue::Object => "[object Object]".to_owned(),
        JsValue::Array(items) => {
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if *item != JsValue::Null {
                    out.push_str(&js_to_string(item));
                }
            }
            out
        }
    }
}

/// ECMAScript `Number::toString(10)`: shortest round-trip digits, plain
/// notation for exponents in (-7, 21), else `1.5e+21` style.
pub(super) fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}
