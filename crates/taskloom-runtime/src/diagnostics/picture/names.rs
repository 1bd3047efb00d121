//! What a task is called in a picture: its group (the function or collection it
//! belongs to, Dask's `key_split`) and a short label.
//!
//! Dask names a task after its collection and a token, `('sum-partial-ccdf74dd...',
//! 3)`; the token tells collections apart but makes labels long and groups of one.
//! [`group`] drops tokens as Dask's `key_split` does (`sum-partial`), so the chunks
//! of one collection, or the calls of one function, are one group: one node of a
//! summarised graph, one colour of a report's task stream.

use taskloom_core::Key;

/// The group of `key`: its name, without Dask's tokens and trailing numbers
/// (`('sum-partial-ccdf74dd…', 3)` → `sum-partial`, `"x-1"` → `x`, a 32-digit hex
/// name → `data`), as Dask's `key_split`.
pub(crate) fn group(key: &Key) -> String {
    split(key.name())
}

/// Dask's `key_split` on a name.
pub(crate) fn split(name: &str) -> String {
    let mut words = name.split('-');
    let first = words.next().unwrap_or("");
    let mut result = if first.chars().next().is_some_and(char::is_alphabetic) {
        first.to_owned()
    } else {
        // `('x', 1)` written as a string, or a name starting with a digit.
        first
            .split(',')
            .next()
            .unwrap_or("")
            .trim_matches(|c| matches!(c, '_' | '\'' | '(' | ')' | '"'))
            .to_owned()
    };
    for word in words {
        let alphabetic = !word.is_empty() && word.chars().all(char::is_alphabetic);
        if alphabetic && !(word.len() == 8 && is_hex(word)) {
            result.push('-');
            result.push_str(word);
        } else {
            break;
        }
    }
    if result.len() == 32 && is_hex(&result) {
        return "data".to_owned();
    }
    if let Some(inner) = result.strip_prefix('<') {
        // `<function f at 0x...>`: the function's last name.
        let inner = inner.trim_end_matches('>');
        let first = inner.split_whitespace().next().unwrap_or(inner);
        result = first.rsplit('.').next().unwrap_or(first).to_owned();
    }
    if result.is_empty() {
        "(unnamed)".to_owned()
    } else {
        result
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A label for `key` of at most `max` characters: a tuple key as its group and
/// indices (`sum-partial 3`), a string key as it is; cut with `…` past `max`.
pub(crate) fn short_label(key: &Key, max: usize) -> String {
    let text = if key.is_tuple() {
        let indices: Vec<String> = key.indices().iter().map(i64::to_string).collect();
        format!("{} {}", group(key), indices.join(","))
    } else {
        key.name().to_owned()
    };
    cut(&text, max)
}

/// `text` cut to `max` characters, the last one `…` if it was longer.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_as_dask_key_split() {
        let cases = [
            ("x", "x"),
            ("x-1", "x"),
            ("hello-world-1", "hello-world"),
            (
                "sum-partial-ccdf74ddfe8b568c48646c433ad91078",
                "sum-partial",
            ),
            ("ones_like-c4cea1ade09c92484c8d5f682f9fb343", "ones_like"),
            ("ae05086432ca935f6eba409a8ecd4896", "data"),
            ("('x', 1)", "x"),
            ("x-abcdefab", "x"),
            ("<module.f>", "f"),
            ("", "(unnamed)"),
        ];
        for (name, want) in cases {
            assert_eq!(split(name), want, "{name}");
        }
        assert_eq!(
            group(&Key::tuple("sum-aggregate-bf49", [0])),
            "sum-aggregate"
        );
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(
            short_label(&Key::tuple("sum-partial-ccdf74dd", [3]), 20),
            "sum-partial 3"
        );
        assert_eq!(short_label(&Key::from("a-very-long-name"), 6), "a-ver…");
        assert_eq!(short_label(&Key::from("é"), 6), "é");
    }
}
