//! Configuration errors that name the file, line, column and field.

use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {field}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `postgres[2].url` or `keys.cancel`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    /// Build from a byte span in `source`; the field is worked out from the text.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_col(source, span.start);
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            field: crate::sanitize::cell(&field_at(source, span.start), 200),
            // Messages quote the file's text: keep escape sequences off the terminal.
            message: crate::sanitize::cell(&message.into(), 2000),
        }
    }

    /// An error about the file as a whole (unreadable, missing).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            field: "(file)".into(),
            message: message.into(),
        }
    }

    /// The text of `file`, or an error saying why it cannot be read.
    pub fn read(file: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(file)
            .map_err(|e| ConfigError::whole_file(file, format!("cannot read the file: {e}")))
    }

    /// `source`, the text of `file`, as a `T`: TOML syntax and type errors come back as
    /// file:line:col: field: message.
    pub fn parse_toml<T: serde::de::DeserializeOwned>(
        file: &Path,
        source: &str,
    ) -> Result<T, ConfigError> {
        toml::from_str(source).map_err(|e| ConfigError::from_toml(file, source, &e))
    }

    /// From a TOML parse or type error.
    pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> Self {
        let span = err.span().unwrap_or(0..0);
        let mut e = ConfigError::at(file, source, span, plain(err.message().trim()));
        if e.message.contains("expected an array") {
            // `[postgres]` written for `[[postgres]]`.
            e.message
                .push_str(&format!("; write [[{}]] for each entry", e.field));
        }
        e
    }
}

/// serde's words for TOML things, and a suggestion for a misspelt key:
/// "unknown field `pasword_env`, expected one of `name`, `password_env`, ..." becomes
/// "unknown field `pasword_env`; did you mean `password_env`?".
fn plain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once("`, expected ")
    {
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        if let Some(near) = closest(field, &names) {
            return format!("unknown field `{field}`; did you mean `{near}`?");
        }
        return message.to_string();
    }
    let mut m = message
        .replace("invalid type: map", "invalid type: table")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    for int in ["usize", "u64", "u32", "u16", "u8"] {
        m = m.replace(
            &format!("expected {int}"),
            "expected a whole number, 0 or more",
        );
    }
    m
}

/// The candidate a misspelt name was meant to be: at most two edits away, or one a prefix of
/// the other (`min_reason_length` for `min_reason_len`).
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .filter_map(|c| {
            let d = edit_distance(name, c);
            let prefix =
                name.len().min(c.len()) >= 4 && (name.starts_with(c) || c.starts_with(name));
            (d <= 2 || prefix).then_some((d, *c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The dotted field path at `offset`: the enclosing [table] or [[array]] (with its index)
/// followed by the key on that line.
pub fn field_at(source: &str, offset: usize) -> String {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = source
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("");
    let mut table = String::new();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // A well-formed header on the error's own line counts: `[[postgres]]` there is that entry.
    let upto = if is_header(line) {
        source.get(..line_start + line.len()).unwrap_or(source)
    } else {
        before.get(..line_start).unwrap_or("")
    };
    for l in upto.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            *n += 1;
            table = format!("{name}[{}]", *n);
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
    }
    let trimmed = line.trim();
    let key = if trimmed.starts_with('[') {
        None
    } else {
        trimmed
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
    };
    match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => "(top level)".into(),
    }
}

fn is_header(line: &str) -> bool {
    let t = line.trim();
    if t.starts_with("[[") {
        t.ends_with("]]") && !t.ends_with("]]]")
    } else {
        t.starts_with('[') && t.ends_with(']') && !t.ends_with("]]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_names_get_a_suggestion_and_serde_words_are_plain() {
        assert_eq!(
            plain("unknown field `pasword_env`, expected one of `name`, `password_env`"),
            "unknown field `pasword_env`; did you mean `password_env`?"
        );
        let far = "unknown field `zzz`, expected one of `name`, `url`";
        assert_eq!(plain(far), far);
        assert_eq!(
            closest("min_reason_length", &["min_reason_len", "reason_pattern"]),
            Some("min_reason_len")
        );
        assert_eq!(closest("kill", &["quit", "cancel"]), None);
        assert_eq!(
            plain("invalid value: integer `-5`, expected usize"),
            "invalid value: integer `-5`, expected a whole number, 0 or more"
        );
        let src = "[[postgres]]\nname = \"a\"\n[[postgres]]\nname = \"b\"\n";
        let second = src.rfind("[[").unwrap_or(0);
        assert_eq!(field_at(src, second), "postgres[2]");
    }

    #[test]
    fn field_paths_name_array_entries_by_position() {
        let src =
            "theme = \"x\"\n[[postgres]]\nname = \"a\"\n[[postgres]]\nname = \"b\"\nurl = 5\n";
        let off = src.find("url").unwrap_or(0);
        assert_eq!(field_at(src, off), "postgres[2].url");
        assert_eq!(line_col(src, off), (6, 1));
        assert_eq!(field_at(src, 0), "theme");
    }
}
