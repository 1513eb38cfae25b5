//! Binary attachment placeholders.
//!
//! Binary values inside a packet payload travel as separate binary frames; in
//! the JSON payload each one is replaced by a placeholder object
//! `{"_placeholder":true,"num":N}` where `N` is the index of the attachment.
//! Replacing user values by placeholders (and back) happens elsewhere; this
//! module only builds, recognises, counts and validates placeholders.
//!
//! Recognition follows socket.io-parser's `reconstructPacket`: any JSON object
//! whose `_placeholder` member is exactly `true` is a placeholder (extra
//! members are ignored and its contents are not searched further).

use serde_json::Map;
use serde_json::Value;

use super::packet::DecodeError;

/// Name of the member that marks an object as a placeholder.
pub(crate) const PLACEHOLDER_KEY: &str = "_placeholder";

/// Name of the member holding the attachment index of a placeholder.
pub(crate) const NUM_KEY: &str = "num";

/// Builds the placeholder object for attachment number `num`:
/// `{"_placeholder":true,"num":num}`.
pub(crate) fn placeholder(num: usize) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert(PLACEHOLDER_KEY.to_owned(), Value::Bool(true));
    map.insert(NUM_KEY.to_owned(), Value::from(num as u64));
    Value::Object(map)
}

/// Returns true when `value` is a placeholder object, i.e. an object whose
/// `_placeholder` member is the boolean `true` (whatever its `num` is).
pub(crate) fn is_placeholder(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.get(PLACEHOLDER_KEY) == Some(&Value::Bool(true)))
}

/// Returns the attachment index of a placeholder: `Some(n)` when `value` is a
/// placeholder whose `num` is a non-negative integer (JSON `3` or `3.0`),
/// `None` otherwise (not a placeholder, or `num` missing/invalid).
pub(crate) fn placeholder_num(value: &Value) -> Option<u64> {
    if !is_placeholder(value) {
        return None;
    }
    let num = value.get(NUM_KEY)?;
    if let Some(n) = num.as_u64() {
        return Some(n);
    }
    // socket.io-parser only checks `typeof num === "number"`; accept integral
    // floats (including -0) but never fractional or negative values.
    let f = num.as_f64()?;
    if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 {
        Some(f as u64)
    } else {
        None
    }
}

/// Counts the placeholder objects anywhere inside `value` (nested placeholders
/// inside a placeholder are not counted, as they would never be reached by
/// reconstruction). Runs iteratively, so arbitrarily deep values are fine.
#[cfg(test)]
pub(crate) fn count_placeholders(value: &Value) -> usize {
    let mut count = 0;
    // The visitor never fails, so the walk always completes.
    let _ = walk(value, |_| {
        count += 1;
        Ok(())
    });
    count
}

/// Checks every placeholder inside `value` against `attachments`, the number
/// of binary frames the packet announced, and returns how many placeholders
/// were found.
///
/// Mirrors socket.io-parser's `reconstructPacket`, which throws
/// "illegal attachments" unless `num` is a number with
/// `0 <= num < attachments`; additionally `num` must be integral. Placeholders
/// may repeat an index and attachments may go unreferenced (as in the
/// reference parser).
pub(crate) fn validate_placeholders(
    value: &Value,
    attachments: usize,
) -> Result<usize, DecodeError> {
    let mut count = 0;
    walk(value, |v| {
        count += 1;
        match placeholder_num(v) {
            Some(n) if n < attachments as u64 => Ok(()),
            Some(_) => Err(DecodeError::IllegalPlaceholder(
                "placeholder index out of range",
            )),
            None => Err(DecodeError::IllegalPlaceholder(
                "placeholder without a non-negative integer num",
            )),
        }
    })?;
    Ok(count)
}

/// Visits every placeholder inside `value` (depth first, without recursion).
fn walk<F>(value: &Value, mut visit: F) -> Result<(), DecodeError>
where
    F: FnMut(&Value) -> Result<(), DecodeError>,
{
    let mut stack: Vec<&Value> = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if is_placeholder(v) {
                    visit(v)?;
                } else {
                    stack.extend(map.values());
                }
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholder_shape_and_serialisation() {
        assert_eq!(
            placeholder(3).to_string(),
            r#"{"_placeholder":true,"num":3}"#
        );
        assert!(is_placeholder(&placeholder(0)));
        assert_eq!(placeholder_num(&placeholder(7)), Some(7));
    }

    #[test]
    fn recognition() {
        assert!(!is_placeholder(&json!({"_placeholder": "true", "num": 0})));
        assert!(!is_placeholder(&json!({"_placeholder": 1, "num": 0})));
        assert!(!is_placeholder(&json!([true, 0])));
        assert!(is_placeholder(&json!({"_placeholder": true})));
        assert_eq!(placeholder_num(&json!({"_placeholder": true})), None);
        assert_eq!(
            placeholder_num(&json!({"_placeholder": true, "num": 2.0})),
            Some(2)
        );
        assert_eq!(
            placeholder_num(&json!({"_placeholder": true, "num": -0.0})),
            Some(0)
        );
        assert_eq!(
            placeholder_num(&json!({"_placeholder": true, "num": 0.5})),
            None
        );
        assert_eq!(
            placeholder_num(&json!({"_placeholder": true, "num": -1})),
            None
        );
        assert_eq!(
            placeholder_num(&json!({"_placeholder": true, "num": "0"})),
            None
        );
    }

    #[test]
    fn counting_nested() {
        let v = json!(["ev", placeholder(0), {"a": [placeholder(1), {"b": placeholder(0)}]}, "x"]);
        assert_eq!(count_placeholders(&v), 3);
        assert_eq!(validate_placeholders(&v, 2), Ok(3));
        assert!(validate_placeholders(&v, 1).is_err());
        assert_eq!(count_placeholders(&json!(["no", {"binary": 1}])), 0);
        // a placeholder's own members are not searched
        let inner = json!({"_placeholder": true, "num": 0, "x": placeholder(5)});
        assert_eq!(count_placeholders(&inner), 1);
        assert_eq!(validate_placeholders(&inner, 1), Ok(1));
    }

    #[test]
    fn validation_errors() {
        for bad in [
            json!([{"_placeholder": true}]),
            json!([{"_placeholder": true, "num": 1}]),
            json!([{"_placeholder": true, "num": -1}]),
            json!([{"_placeholder": true, "num": 0.5}]),
            json!([{"_placeholder": true, "num": null}]),
        ] {
            assert!(
                matches!(
                    validate_placeholders(&bad, 1),
                    Err(DecodeError::IllegalPlaceholder(_))
                ),
                "{bad}"
            );
        }
        assert!(validate_placeholders(&json!([placeholder(0)]), 0).is_err());
    }

    #[test]
    fn deep_values_do_not_overflow_the_stack() {
        let mut v = placeholder(0);
        for _ in 0..200_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(count_placeholders(&v), 1);
        assert_eq!(validate_placeholders(&v, 1), Ok(1));
        // dropping a deep serde_json::Value recurses; unwind it iteratively
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }
}
