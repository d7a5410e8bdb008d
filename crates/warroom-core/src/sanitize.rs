//! The one place where text from other people's systems is made safe for the terminal.
//! Every pane, the CLI and the audit commands pass server strings (queries, names, log lines,
//! error text) through here. A leaf module: it depends on nothing else in the crate.

use std::borrow::Cow;

/// How far ahead an OSC/DCS/APC/PM/SOS string may run before its terminator. A longer or an
/// unterminated one is not treated as a string: only its introducer is dropped and the text after
/// it stays visible (a hostile query must not hide the rest of itself on the confirmation screen).
const MAX_STRING_SEQUENCE: usize = 256;

/// Remove escape sequences, control characters (C0, DEL, C1), bidirectional controls, zero-width
/// and invisible format characters, line/paragraph separators and tag characters; turn line
/// breaks and tabs into spaces; keep at most `max_chars` characters (a 10 MB log line is cut, not
/// laid out). Returns the input untouched when it is already clean and short.
pub fn sanitize(input: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = input.len() <= max_chars && input.chars().all(|c| !is_unsafe(c));
    if clean {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len().min(max_chars.saturating_mul(4)));
    let mut count = 0;
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '\u{1b}' => rest = skip_escape(rest),
            '\u{9b}' => rest = skip_csi(rest),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => rest = skip_string(rest),
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                    count += 1;
                }
            }
            c if is_unsafe(c) => {}
            c => {
                out.push(c);
                count += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Sanitize and cut to a fixed number of characters, the common case for table cells.
pub fn cell(input: &str, max_chars: usize) -> String {
    sanitize(input, max_chars).into_owned()
}

/// Sanitize a multi-line text (an error message, a report) line by line: each line made safe,
/// the line breaks kept. For human-readable CLI output.
pub fn lines(input: &str, max_chars_per_line: usize) -> String {
    input
        .split('\n')
        .map(|l| sanitize(l.strip_suffix('\r').unwrap_or(l), max_chars_per_line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters that must never reach a terminal as they are.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // bidirectional controls
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // zero-width and invisible format characters
            | '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{180e}'
            // line and paragraph separators
            | '\u{2028}' | '\u{2029}'
            // interlinear annotation controls
            | '\u{fff9}'..='\u{fffb}'
            // tag characters
            | '\u{e0000}'..='\u{e007f}')
}

/// JSON output (`-o json`) for a terminal: serde_json escapes only C0; this also escapes every
/// other [`is_unsafe`] character (C1, DEL, bidi, zero-width, separators, tags) as `\uXXXX`
/// (a surrogate pair above U+FFFF). Outside strings JSON text is ASCII (its whitespace, line
/// breaks included, is kept: inside strings serde_json already escapes those), so this stays
/// valid JSON that parses back to the same value.
pub fn escape_json_output(json: &str) -> Cow<'_, str> {
    let must_escape = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(must_escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if must_escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// After ESC: a CSI, a string sequence, a two-character sequence, or nothing recognisable.
fn skip_escape(rest: &str) -> &str {
    let mut chars = rest.chars();
    match chars.next() {
        Some('[') => skip_csi(chars.as_str()),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars.as_str()),
        // Two- or three-character sequences with intermediate bytes, e.g. ESC ( B.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            let after = chars.as_str();
            match after.chars().next() {
                Some(f) if ('\u{30}'..='\u{7e}').contains(&f) => &after[f.len_utf8()..],
                _ => after,
            }
        }
        // ESC + one final byte (ESC 7, ESC c, ...).
        Some(c) if ('\u{30}'..='\u{7e}').contains(&c) => chars.as_str(),
        _ => rest,
    }
}

/// Parameter bytes (0x30..0x3f), intermediate bytes (0x20..0x2f), then one final byte
/// (0x40..0x7e). Anything else ends the sequence without being consumed.
fn skip_csi(rest: &str) -> &str {
    for (i, c) in rest.char_indices() {
        if ('\u{20}'..='\u{3f}').contains(&c) {
            continue;
        }
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return &rest[i + 1..];
        }
        return &rest[i..];
    }
    ""
}

/// OSC/DCS/APC/PM/SOS: up to BEL or ST (ESC \ or U+9C), when that terminator comes within
/// [`MAX_STRING_SEQUENCE`] characters; otherwise nothing is skipped.
fn skip_string(rest: &str) -> &str {
    let mut chars = rest.char_indices().peekable();
    let mut seen = 0;
    while let Some((i, c)) = chars.next() {
        seen += 1;
        if seen > MAX_STRING_SEQUENCE {
            break;
        }
        match c {
            '\u{07}' | '\u{9c}' => return &rest[i + c.len_utf8()..],
            '\u{1b}' => {
                return match chars.peek() {
                    Some((j, '\\')) => &rest[j + 1..],
                    // Another escape begins: the string ended (badly) here.
                    _ => &rest[i..],
                };
            }
            _ => {}
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(sanitize("SELECT 1", 100), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let evil = "a\u{1b}[2J\u{1b}[31mred\u{1b}[0m\u{1b}]0;pwned\u{07}b\u{1b}]8;;http://x\u{1b}\\c\u{8}\u{0}d\u{9b}1;1Hz";
        assert_eq!(sanitize(evil, 1000), "aredbcdz");
    }

    #[test]
    fn line_breaks_become_single_spaces_and_bidi_is_dropped() {
        assert_eq!(sanitize("SELECT\n\t1\r\n", 100), "SELECT 1 ");
        assert_eq!(sanitize("ab\u{202e}cd", 100), "abcd");
    }

    #[test]
    fn zero_width_separators_and_tags_are_neutralized() {
        assert_eq!(
            sanitize("a\u{200b}b\u{200c}c\u{200d}d\u{2060}e\u{feff}f", 100),
            "abcdef"
        );
        assert_eq!(
            sanitize("one\u{2028}two\u{2029}three", 100),
            "one two three"
        );
        assert_eq!(sanitize("x\u{e0041}\u{e0062}\u{e007f}y", 100), "xy");
        assert_eq!(sanitize("c1\u{85}next\u{80}\u{9f}", 100), "c1 next");
    }

    #[test]
    fn unterminated_string_sequences_do_not_swallow_the_rest() {
        let query = "SELECT pg_sleep(1); DROP TABLE orders";
        for intro in [
            "\u{1b}]", "\u{1b}P", "\u{9d}", "\u{90}", "\u{1b}_", "\u{9e}",
        ] {
            let input = format!("{intro}0;{query}");
            let out = sanitize(&input, 1000);
            assert!(out.contains(query), "{intro:?} swallowed it: {out:?}");
        }
        // A very long "string" is not a string either.
        let long = format!("\u{1b}]{}\u{07}tail", "x".repeat(MAX_STRING_SEQUENCE + 10));
        assert!(sanitize(&long, 10_000).contains("xxxxtail"));
        // A terminated short one is removed.
        assert_eq!(sanitize("a\u{1b}]0;title\u{1b}\\b", 100), "ab");
    }

    #[test]
    fn long_input_is_cut() {
        let big = "x".repeat(10 * 1024 * 1024);
        let out = sanitize(&big, 500);
        assert_eq!(out.chars().count(), 501);
        assert!(out.ends_with('…'));
    }

    #[test]
    fn unterminated_sequences_do_not_panic() {
        for s in [
            "\u{1b}",
            "\u{1b}[",
            "\u{1b}]0;x",
            "\u{9b}",
            "\u{1b}(",
            "x\u{1b}P",
        ] {
            let out = sanitize(s, 10);
            assert!(!out.chars().any(|c| c.is_control()), "{s:?} -> {out:?}");
        }
    }

    #[test]
    fn lines_keeps_line_breaks_and_cleans_each_line() {
        assert_eq!(lines("a\u{1b}[31mb\r\nc\u{202e}d", 100), "ab\ncd");
    }

    #[test]
    fn json_output_escapes_c1_bidi_zero_width_and_tags() {
        let value =
            serde_json::json!({"q": "a\u{9b}31mb\u{202e}c\u{200b}d\u{2028}e\u{e0041}f\u{7f}"});
        let text = serde_json::to_string(&value).expect("json");
        let out = escape_json_output(&text);
        assert!(out.is_ascii(), "{out}");
        assert!(out.contains("\\u009b"), "{out}");
        assert!(out.contains("\\u202e"), "{out}");
        assert!(out.contains("\\u200b"), "{out}");
        assert!(out.contains("\\u2028"), "{out}");
        assert!(out.contains("\\udb40\\udc41"), "{out}");
        assert!(out.contains("\\u007f"), "{out}");
        let back: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(back, value);
        // Pretty output keeps its layout.
        let pretty = serde_json::to_string_pretty(&value).expect("json");
        let out = escape_json_output(&pretty);
        assert_eq!(out.lines().count(), pretty.lines().count());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).expect("JSON"),
            value
        );
        assert!(matches!(
            escape_json_output("{\"a\":\"é\"}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn output_never_contains_controls_for_any_byte_soup() {
        // A cheap deterministic fuzz over all 4-character strings of interesting characters
        // (the proptest below covers arbitrary strings).
        let alphabet = [
            '\u{1b}', '[', ']', '\u{07}', '\\', 'a', '\u{9b}', '\u{9c}', '\n', '\u{202e}', 'm',
            '\u{0}', '\u{9d}', '\u{200b}', 'P',
        ];
        for &a in &alphabet {
            for &b in &alphabet {
                for &c in &alphabet {
                    for &d in &alphabet {
                        let s: String = [a, b, c, d].iter().collect();
                        let out = sanitize(&s, 3);
                        assert!(!out.chars().any(is_unsafe), "{s:?} -> {out:?}");
                        assert!(out.chars().count() <= 4);
                    }
                }
            }
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        /// Strings dense in the characters that matter: escapes, C0/C1, bidi, zero-width, tags.
        fn hostile() -> impl Strategy<Value = String> {
            let special = prop_oneof![
                Just('\u{1b}'),
                Just('\u{9b}'),
                Just('\u{9c}'),
                Just('\u{9d}'),
                Just('\u{90}'),
                Just('\u{07}'),
                Just('['),
                Just(']'),
                Just('\\'),
                Just(';'),
                Just('P'),
                Just('\u{202e}'),
                Just('\u{2066}'),
                Just('\u{200b}'),
                Just('\u{feff}'),
                Just('\u{2028}'),
                Just('\u{e0041}'),
                (0u32..0x20).prop_map(|u| char::from_u32(u).unwrap_or('?')),
                (0x7fu32..0xa0).prop_map(|u| char::from_u32(u).unwrap_or('?')),
            ];
            proptest::collection::vec(prop_oneof![special, any::<char>()], 0..64)
                .prop_map(|v| v.into_iter().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            #[test]
            fn no_unsafe_character_survives(s in hostile(), max in 0usize..80) {
                let out = sanitize(&s, max);
                prop_assert!(!out.chars().any(is_unsafe), "{:?} -> {:?}", s, out);
                prop_assert!(out.chars().count() <= max + 1);
            }

            #[test]
            fn unterminated_string_keeps_the_visible_rest(
                intro in prop_oneof![Just("\u{1b}]"), Just("\u{1b}P"), Just("\u{9d}"), Just("\u{90}")],
                rest in "[a-zA-Z0-9 ;().,*=']{1,200}",
            ) {
                let input = format!("{intro}{rest}");
                let out = sanitize(&input, 1000);
                prop_assert_eq!(out.as_ref(), rest.as_str());
            }

            #[test]
            fn json_escaping_is_lossless_and_safe(s in hostile()) {
                let text = serde_json::to_string_pretty(&serde_json::json!({ "s": s })).unwrap_or_default();
                let out = escape_json_output(&text);
                prop_assert!(!out.chars().any(|c| is_unsafe(c) && c != '\n'));
                let back: serde_json::Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back["s"].as_str(), Some(s.as_str()));
            }
        }
    }
}
