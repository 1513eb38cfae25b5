//! Name–value pairs kept for the life of a session (the handshake's query and headers), packed
//! into one string: a map per connection would cost more than the rest of an idle session.

use std::fmt;

/// Name–value pairs, looked up by exact name. Built from any iterator of pairs; a name given twice
/// keeps its first value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pairs {
    text: Box<str>,
    /// Per pair: where its name starts, where its value starts (the name's end), where it ends.
    spans: Box<[[u32; 3]]>,
}

impl Pairs {
    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every pair, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(|&[name, value, end]| {
            let (name, value, end) = (name as usize, value as usize, end as usize);
            (&self.text[name..value], &self.text[value..end])
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Pairs {
        let mut text = String::new();
        let mut spans = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let seen = spans
                .iter()
                .any(|&[s, e, _]: &[u32; 3]| &text[s as usize..e as usize] == name);
            if seen || text.len() + name.len() + value.len() > u32::MAX as usize {
                continue;
            }
            let start = text.len() as u32;
            text.push_str(name);
            let middle = text.len() as u32;
            text.push_str(value);
            spans.push([start, middle, text.len() as u32]);
        }
        Pairs {
            text: text.into_boxed_str(),
            spans: spans.into_boxed_slice(),
        }
    }
}

impl fmt::Debug for Pairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_by_exact_name_and_keeps_the_first_of_a_repeated_one() {
        let pairs: Pairs = [
            ("EIO", "4"),
            ("transport", "polling"),
            ("EIO", "3"),
            ("t", ""),
        ]
        .into_iter()
        .collect();
        assert_eq!(pairs.get("EIO"), Some("4"));
        assert_eq!(pairs.get("transport"), Some("polling"));
        assert_eq!(pairs.get("t"), Some(""));
        assert_eq!(pairs.get("eio"), None);
        assert_eq!(pairs.len(), 3);
        assert_eq!(
            pairs.iter().collect::<Vec<_>>(),
            vec![("EIO", "4"), ("transport", "polling"), ("t", "")]
        );
        assert!(Pairs::default().is_empty());
        assert_eq!(
            format!("{pairs:?}"),
            r#"{"EIO": "4", "transport": "polling", "t": ""}"#
        );
    }
}
