//! The one redaction function: secrets out of any text that is shown, printed, logged or recorded
//! (query text, connection strings, error messages). A leaf module.
//!
//! What it removes (the key is kept, the value becomes `***`):
//! - conninfo and URL-query passwords: `password=hunter2`, `password = 'a b'`, `sslpassword=...`;
//! - URL user info: `postgres://user:hunter2@host` -> `postgres://user:***@host`;
//! - SQL `PASSWORD '...'`, `PASSWORD E'...'`, `PASSWORD $$...$$`, `PASSWORD word`;
//! - `IDENTIFIED BY '...'` (and unquoted);
//! - HTTP credentials: `Bearer <token>`, `Basic <token>`.
//!
//! A value that is cut off (pg_stat_activity truncates long queries) is redacted to the end.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// What a redacted value is replaced with.
pub const MASK: &str = "***";

/// `text` with every secret it recognises replaced by `***`. Borrowed when nothing matched.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    let Some(rules) = rules() else {
        // The patterns are constants and compile; if they ever did not, show nothing at all
        // rather than a possible secret.
        return Cow::Owned(format!("{MASK} (text hidden: redaction unavailable)"));
    };
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for (re, replacement) in rules {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}

fn rules() -> Option<&'static [(Regex, &'static str)]> {
    static RULES: OnceLock<Option<Vec<(Regex, &'static str)>>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            // SQL string forms, each possibly cut off at the end of the text.
            let e_string = r"[eE]'(?:[^'\\]|''|\\.)*(?:'|\\?$)";
            let std_string = r"'(?:[^']|'')*(?:'|$)";
            let dollar = r"\$\$(?s:.*?)(?:\$\$|$)";
            let dquoted = r#""(?:[^"]|"")*(?:"|$)"#;
            let sql_value = format!(r"(?:{e_string}|{std_string}|{dollar}|{dquoted}|[^\s;,)=]+)");
            let patterns: [(String, &'static str); 5] = [
                // URL user info first, so that `password=` inside a URL query still matches after.
                (
                    r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@'\x22]*):[^\s/'\x22]*@".to_string(),
                    "${1}:***@",
                ),
                // conninfo / URL query: password=value, value quoted ('...' with \' escapes,
                // or ''...'' when the conninfo sits inside an SQL literal) or up to whitespace
                // or a quote.
                (
                    r"(?i)(password\s*=\s*)(?:'+(?:[^'\\]|\\.)*'*|[^\s']+)".to_string(),
                    "${1}***",
                ),
                (format!(r"(?i)(\bpassword\s+)(?:{sql_value})"), "${1}'***'"),
                (
                    format!(r"(?i)(\bidentified\s+by\s+)(?:{sql_value})"),
                    "${1}'***'",
                ),
                (
                    r#"(?i)(\b(?:bearer|basic)\s+)[^\s'"]+"#.to_string(),
                    "${1}***",
                ),
            ];
            patterns
                .into_iter()
                .map(|(p, r)| Regex::new(&p).ok().map(|re| (re, r)))
                .collect()
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples_are_redacted() {
        for (input, secret) in [
            (
                "CREATE SUBSCRIPTION s CONNECTION 'host=h password=hunter2' PUBLICATION p",
                "hunter2",
            ),
            ("ALTER ROLE x PASSWORD E'a b'", "a b"),
            ("ALTER ROLE x PASSWORD 'hunter2'", "hunter2"),
            (
                "ALTER ROLE x WITH ENCRYPTED PASSWORD 'it''s secret'",
                "s secret",
            ),
            ("alter user x password\n'hunter2'", "hunter2"),
            (
                "select dblink_connect('host=h user=u password = ''pa ss''')",
                "pa ss",
            ),
            ("postgres://app:hunter2@db.internal:5432/shop", "hunter2"),
            ("CREATE USER bob IDENTIFIED BY 'tiger42'", "tiger42"),
            ("CREATE USER bob IDENTIFIED BY tiger42", "tiger42"),
            ("Authorization: Bearer eyJhbGciOi.J9x-y_z", "eyJhbGciOi"),
            (
                "ALTER ROLE x PASSWORD 'truncated by track_activity_query_si",
                "truncated",
            ),
            ("ALTER ROLE x PASSWORD $$dollar quoted$$", "dollar quoted"),
            (
                "https://u:p%40ss@h/x?password=q1w2e3&sslmode=require",
                "q1w2e3",
            ),
        ] {
            let out = redact_secrets(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?}");
            assert!(out.contains(MASK), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn harmless_text_is_untouched_and_borrowed() {
        for text in [
            "SELECT * FROM orders WHERE id = 1",
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            "select password_required from x",
        ] {
            assert!(matches!(redact_secrets(text), Cow::Borrowed(_)), "{text}");
        }
    }

    mod property {
        use super::super::*;
        use proptest::prelude::*;

        /// Secrets that cannot occur by chance in the fixed parts of the templates below.
        fn secret(extra: &'static str) -> impl Strategy<Value = String> {
            proptest::string::string_regex(&format!("[A-Za-z0-9!#%^*_+{extra}-]{{6,24}}"))
                .unwrap_or_else(|_| proptest::string::string_regex("[a-z]{6}").expect("regex"))
                .prop_filter("must hold a digit and a letter", |s| {
                    s.chars().any(|c| c.is_ascii_digit())
                        && s.chars().any(|c| c.is_ascii_alphabetic())
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            #[test]
            fn conninfo_passwords(p in secret("")) {
                let q = format!("CREATE SUBSCRIPTION s CONNECTION 'host=h password={p} dbname=d' PUBLICATION x");
                prop_assert!(!redact_secrets(&q).contains(&p));
                let quoted = format!("host=h password='{}' port=5", p.replace('\'', "\\'"));
                prop_assert!(!redact_secrets(&quoted).contains(&p));
            }

            #[test]
            fn sql_password_literals(p in secret(" '\\\\")) {
                let std = format!("ALTER ROLE r PASSWORD '{}' VALID UNTIL 'infinity'", p.replace('\'', "''"));
                let out = redact_secrets(&std);
                prop_assert!(!out.contains(&p), "{} -> {}", std, out);
                let e = format!("ALTER ROLE r PASSWORD E'{}'", p.replace('\\', "\\\\").replace('\'', "\\'"));
                let out = redact_secrets(&e);
                prop_assert!(!out.contains(&p), "{} -> {}", e, out);
                let by = format!("CREATE USER u IDENTIFIED BY '{}'", p.replace('\'', "''"));
                prop_assert!(!redact_secrets(&by).contains(&p));
                // Cut off by the server's query-size limit.
                let cut = format!("ALTER ROLE r PASSWORD '{}", p.replace('\'', "''"));
                prop_assert!(!redact_secrets(&cut).contains(&p));
            }

            #[test]
            fn url_passwords_and_tokens(p in secret(":")) {
                let url = format!("postgres://app:{p}@db:5432/x");
                prop_assert!(!redact_secrets(&url).contains(&p));
                let header = format!("authorization: Bearer {p}");
                prop_assert!(!redact_secrets(&header).contains(&p));
            }

            #[test]
            fn redaction_is_idempotent(s in "\\PC{0,80}") {
                let once = redact_secrets(&s).into_owned();
                prop_assert_eq!(redact_secrets(&once).into_owned(), once);
            }
        }
    }
}
