//! ~/.pgpass lookup, as libpq does it: `hostname:port:database:username:password`,
//! `*` matches anything, `\:` and `\\` are escapes, first match wins.

use std::path::{Path, PathBuf};

/// The file libpq would read: $PGPASSFILE, else ~/.pgpass.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// Find the password for this host, port, database and user in `contents`.
pub fn lookup(contents: &str, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    contents
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(split_fields)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(f, w)| f == "*" || f == w || (f == "localhost" && w.starts_with('/')))
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// Read the file, honouring libpq's rule that a group- or world-readable file is ignored.
pub fn read(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).ok()?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "ignoring password file: permissions should be u=rw (0600) or less");
            return None;
        }
    }
    std::fs::read_to_string(path).ok()
}

fn split_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_with_wildcards_and_escapes() {
        let file = "# comment\n\
                    db1:5432:app:monitor:s3cr\\:et\n\
                    *:*:*:monitor:fallback\n";
        assert_eq!(
            lookup(file, "db1", 5432, "app", "monitor").as_deref(),
            Some("s3cr:et")
        );
        assert_eq!(
            lookup(file, "db2", 5433, "x", "monitor").as_deref(),
            Some("fallback")
        );
        assert_eq!(lookup(file, "db2", 5433, "x", "other"), None);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert_eq!(lookup("a:b:c\n", "a", 1, "c", "d"), None);
    }
}
