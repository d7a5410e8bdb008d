//! The one place where text from other people's systems is made safe for the terminal.
//! Every pane passes server strings (queries, names, log lines) through here.

use std::borrow::Cow;

/// Remove escape sequences, control characters and bidirectional overrides; turn line
/// breaks and tabs into spaces; keep at most `max_chars` characters (a 10 MB log line is
/// cut, not laid out). Returns the input untouched when it is already clean and short.
pub fn sanitize(input: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = input.len() <= max_chars && input.chars().all(|c| !is_unsafe(c));
    if clean {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len().min(max_chars.saturating_mul(4)));
    let mut count = 0;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' => {
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

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Two-character sequences with an intermediate byte, e.g. ESC ( B.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

/// Parameters and intermediates, then one final byte in @..~.
fn skip_csi(chars: &mut Chars<'_>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
        if c.is_control() && c != '\u{1b}' {
            break;
        }
    }
}

/// OSC/DCS/APC/PM/SOS: up to BEL or ST (ESC \ or U+9C).
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
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
    fn output_never_contains_controls_for_any_byte_soup() {
        // A cheap deterministic fuzz over all pairs of interesting characters.
        let alphabet = [
            '\u{1b}', '[', ']', '\u{07}', '\\', 'a', '\u{9b}', '\u{9c}', '\n', '\u{202e}', 'm',
            '\u{0}',
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
}
