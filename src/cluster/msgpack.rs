//! msgpack as the Node adapters write it (notepack.io), to and from JSON values.
//!
//! Reading: a timestamp (ext -1) becomes its ISO-8601 string, as a Node node's clients see a
//! `Date`; binary becomes a Socket.IO attachment (a placeholder in the JSON) where a message's
//! arguments are read, and Node's JSON form of a Buffer, `{"type":"Buffer","data":[..]}`,
//! elsewhere; other extensions become `null`. Writing: a number with no fraction
//! is an integer, as notepack writes a JS number, any other a float64.

use bytes::Bytes;
use rmpv::Value as Pack;
use serde_json::{Map, Number, Value};

use crate::hub::buffer_json;
use crate::socketio::binary::{placeholder, placeholder_num};

/// How deep a message may nest before it is refused (a hostile message must not exhaust the
/// stack).
const MAX_DEPTH: usize = 64;

/// Decodes one msgpack value; `None` when the bytes are not one whole value.
pub(crate) fn decode(bytes: &[u8]) -> Option<Pack> {
    let mut reader = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH).ok()?;
    reader.is_empty().then_some(value)
}

/// Encodes one msgpack value.
pub(crate) fn encode(value: &Pack) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    rmpv::encode::write_value(&mut out, value).expect("writing to a Vec cannot fail");
    out
}

/// A msgpack value as the JSON a Node node's clients would receive.
pub(crate) fn to_json(value: &Pack) -> Value {
    convert(value, &mut |bytes| buffer_json(bytes))
}

/// A msgpack value as JSON with its binary values taken out: each becomes the placeholder of
/// the attachment it is pushed as.
pub(crate) fn to_json_with_attachments(value: &Pack, attachments: &mut Vec<Bytes>) -> Value {
    convert(value, &mut |bytes| {
        attachments.push(Bytes::copy_from_slice(bytes));
        placeholder(attachments.len() - 1)
    })
}

fn convert(value: &Pack, binary: &mut dyn FnMut(&[u8]) -> Value) -> Value {
    match value {
        Pack::Nil => Value::Null,
        Pack::Boolean(b) => Value::Bool(*b),
        Pack::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            (None, None) => Value::Null,
        },
        Pack::F32(f) => float(f64::from(*f)),
        Pack::F64(f) => float(*f),
        Pack::String(s) => Value::String(match s.as_str() {
            Some(text) => text.to_string(),
            None => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        }),
        Pack::Binary(bytes) => binary(bytes),
        Pack::Array(items) => Value::Array(items.iter().map(|v| convert(v, binary)).collect()),
        Pack::Map(entries) => {
            let mut object = Map::with_capacity(entries.len());
            for (key, value) in entries {
                object.insert(key_string(key), convert(value, binary));
            }
            Value::Object(object)
        }
        Pack::Ext(-1, data) => timestamp(data).map_or(Value::Null, Value::String),
        Pack::Ext(..) => Value::Null,
    }
}

/// A JSON value as notepack writes the JS value it stands for.
pub(crate) fn from_json(value: &Value) -> Pack {
    from_json_with_attachments(value, &[])
}

/// A JSON value as notepack writes it, each placeholder of `attachments` as that binary.
pub(crate) fn from_json_with_attachments(value: &Value, attachments: &[Bytes]) -> Pack {
    if let Some(bytes) = placeholder_num(value)
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| attachments.get(n))
    {
        return Pack::Binary(bytes.to_vec());
    }
    match value {
        Value::Null => Pack::Nil,
        Value::Bool(b) => Pack::Boolean(*b),
        Value::Number(n) => number(n),
        Value::String(s) => Pack::from(s.as_str()),
        Value::Array(items) => Pack::Array(
            items
                .iter()
                .map(|v| from_json_with_attachments(v, attachments))
                .collect(),
        ),
        Value::Object(fields) => Pack::Map(
            fields
                .iter()
                .map(|(k, v)| {
                    (
                        Pack::from(k.as_str()),
                        from_json_with_attachments(v, attachments),
                    )
                })
                .collect(),
        ),
    }
}

/// A map key as the JS object notepack decodes into names it: `String(key)`. A map is
/// `[object Object]`, an array its elements joined with commas (nothing for null), so a key never
/// costs more than its bytes (JSON-stringifying nested keys would escape each level again: a few
/// hundred bytes of nested maps took a minute before, found by the `cluster` fuzz target).
fn key_string(key: &Pack) -> String {
    match key {
        Pack::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Pack::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Pack::Nil => "null".into(),
        Pack::Map(_) => "[object Object]".into(),
        Pack::Array(items) => items
            .iter()
            .map(|item| match item {
                Pack::Nil => String::new(),
                other => key_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Pack::Ext(..) => String::new(),
        scalar => to_json(scalar).to_string(),
    }
}

/// A float as JSON: an integral one as an integer, as `JSON.stringify` writes a JS number.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < MAX_SAFE_INTEGER {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// 2^53: past it a JS number is not an exact integer.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

fn number(n: &Number) -> Pack {
    if let Some(u) = n.as_u64() {
        return Pack::from(u);
    }
    if let Some(i) = n.as_i64() {
        return Pack::from(i);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // notepack writes an integral JS number as an integer.
    if f.fract() == 0.0 && f.abs() < MAX_SAFE_INTEGER {
        return Pack::from(f as i64);
    }
    Pack::F64(f)
}

/// A msgpack timestamp (ext -1, 4, 8 or 12 bytes) as JavaScript's `Date.toISOString()` writes it.
fn timestamp(data: &[u8]) -> Option<String> {
    let (seconds, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let raw = u64::from_be_bytes(data.try_into().ok()?);
            ((raw & 0x3_FFFF_FFFF) as i64, (raw >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..].try_into().ok()?),
            u32::from_be_bytes(data[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    super::js_date::iso_8601(seconds, nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::test_support::hex;

    /// The bytes Node's `io.emit('bin', Buffer[1,2,3], new Date(0), new Date(1700000000123),
    /// {b: Buffer[ff]})` published (protocols/redis-adapter.md §2.2).
    #[test]
    fn a_captured_node_broadcast_reads_as_its_clients_see_it() {
        let bytes = hex("93a6784374644a6283a47479706502a46461746195a362696ec403010203d6ff00000000d7ff1d5353006553f10081a162c401ffa36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380");
        let value = to_json(&decode(&bytes).unwrap());
        assert_eq!(
            value,
            json!(["xCtdJb", {"type": 2, "data": ["bin",
                {"type": "Buffer", "data": [1, 2, 3]},
                "1970-01-01T00:00:00.000Z",
                "2023-11-14T22:13:20.123Z",
                {"b": {"type": "Buffer", "data": [255]}}], "nsp": "/"},
                {"rooms": [], "except": [], "flags": {}}])
        );
    }

    /// `io.emit('hello','world',1,2.5,{a:true,n:null})` as Node wrote it, byte for byte.
    #[test]
    fn json_is_written_as_notepack_writes_the_same_js_values() {
        let value = json!(["xCtdJb", {"type": 2, "data": ["hello", "world", 1, 2.5, {"a": true, "n": null}], "nsp": "/"},
            {"rooms": [], "except": [], "flags": {}}]);
        assert_eq!(
            encode(&from_json(&value)),
            hex("93a6784374644a6283a47479706502a46461746195a568656c6c6fa5776f726c6401cb400400000000000082a161c3a16ec0a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380")
        );
        assert_eq!(encode(&from_json(&json!(3.0))), vec![0x03]);
    }

    #[test]
    fn timestamps_of_every_size_are_read() {
        assert_eq!(
            timestamp(&[0, 0, 0, 1]).unwrap(),
            "1970-01-01T00:00:01.000Z"
        );
        // 12-byte form: nanoseconds, then signed seconds.
        let mut twelve = 7_000_000u32.to_be_bytes().to_vec();
        twelve.extend((-86_400i64).to_be_bytes());
        assert_eq!(timestamp(&twelve).unwrap(), "1969-12-31T00:00:00.007Z");
    }

    /// Found by the `cluster` fuzz target: maps whose keys are maps, nested, took 55 s to read
    /// for 342 bytes. Keys are named as JavaScript names them.
    #[test]
    fn map_keys_are_named_as_javascript_names_them() {
        let key_map = Pack::Map(vec![(Pack::from("a"), Pack::from(1))]);
        let value = Pack::Map(vec![
            (key_map.clone(), Pack::from(1)),
            (
                Pack::Array(vec![Pack::from(1), Pack::Nil, Pack::from("x")]),
                Pack::from(2),
            ),
            (Pack::Nil, Pack::from(3)),
            (Pack::from(7), Pack::from(4)),
        ]);
        assert_eq!(
            to_json(&value),
            json!({"[object Object]": 1, "1,,x": 2, "null": 3, "7": 4})
        );
        let mut nested = key_map;
        for _ in 0..60 {
            nested = Pack::Map(vec![(nested, Pack::from(1))]);
        }
        let text = to_json(&nested).to_string();
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn hostile_bytes_are_refused_not_followed() {
        assert!(decode(&[0x91; 10_000]).is_none(), "deep nesting");
        assert!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_none(),
            "a huge array header"
        );
        assert!(decode(&hex("9301")).is_none(), "truncated");
        assert!(decode(&hex("0101")).is_none(), "trailing bytes");
    }
}
