//! The plan of a running query: `EXPLAIN` (never ANALYZE: the query is not executed) of the
//! text pg_stat_activity shows, in a read-only transaction with a statement timeout.
//!
//! Refused, with the reason: texts that are not SELECT/INSERT/UPDATE/DELETE/MERGE (or a WITH
//! in front of one), more than one statement, a text cut at track_activity_query_size, and
//! `$n` parameters before PostgreSQL 16 (their values are not in pg_stat_activity; 16 can
//! plan without them: `EXPLAIN (GENERIC_PLAN)`).

use serde::Serialize;

/// The statement kinds whose plan can be shown.
const EXPLAINABLE: [&str; 6] = ["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH"];

/// Why a text is not explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal(pub String);

/// What the text is, as far as EXPLAIN is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCheck {
    pub keyword: String,
    pub has_parameters: bool,
}

/// The result: the plan, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainResult {
    pub pid: i32,
    pub database: Option<String>,
    pub state: Option<String>,
    pub query: String,
    /// Planned with `EXPLAIN (GENERIC_PLAN)` (the text has `$n` parameters).
    pub generic_plan: bool,
    pub plan: Vec<String>,
    pub refused: Option<String>,
}

impl ExplainResult {
    pub fn refused(pid: i32, query: String, reason: String) -> ExplainResult {
        ExplainResult {
            pid,
            database: None,
            state: None,
            query,
            generic_plan: false,
            plan: Vec::new(),
            refused: Some(reason),
        }
    }
}

/// Whether a text of `len_bytes` bytes was probably cut by track_activity_query_size: the
/// server keeps at most size - 1 bytes, clipped back to a character boundary (up to 3 more).
pub fn looks_truncated(len_bytes: usize, track_activity_query_size: usize) -> bool {
    track_activity_query_size > 0 && len_bytes + 4 >= track_activity_query_size
}

/// Decide whether `text` may be explained, on a server of `server_major`.
pub fn check_text(
    text: &str,
    server_major: u32,
    track_activity_query_size: usize,
) -> Result<TextCheck, Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal("the session shows no query text".into()));
    }
    if text == "<insufficient privilege>" {
        return Err(Refusal(
            "the query text is hidden from the monitoring role: grant it pg_monitor".into(),
        ));
    }
    if looks_truncated(text.len(), track_activity_query_size) {
        return Err(Refusal(format!(
            "the query text is {} bytes, at the track_activity_query_size limit ({} bytes): it is \
             cut, so its plan would be wrong; raise track_activity_query_size (restart needed)",
            text.len(),
            track_activity_query_size
        )));
    }
    let scan = scan(text)?;
    let Some(keyword) = scan.first_word else {
        return Err(Refusal("the query text has no statement".into()));
    };
    if !EXPLAINABLE.contains(&keyword.as_str()) {
        return Err(Refusal(format!(
            "only SELECT, INSERT, UPDATE, DELETE and MERGE can be explained; this is {keyword}"
        )));
    }
    if scan.more_after_semicolon {
        return Err(Refusal(
            "the text holds more than one statement; EXPLAIN takes one".into(),
        ));
    }
    if scan.has_parameters && server_major < 16 {
        return Err(Refusal(format!(
            "the query has $n parameters whose values pg_stat_activity does not show; planning \
             without them needs EXPLAIN (GENERIC_PLAN), PostgreSQL 16+ (this server is {server_major})"
        )));
    }
    Ok(TextCheck {
        keyword,
        has_parameters: scan.has_parameters,
    })
}

/// The EXPLAIN statement for a checked text.
pub fn explain_sql(text: &str, check: &TextCheck) -> String {
    let body = text.trim().trim_end_matches(';');
    if check.has_parameters {
        format!("EXPLAIN (GENERIC_PLAN) {body}")
    } else {
        format!("EXPLAIN {body}")
    }
}

struct Scan {
    first_word: Option<String>,
    has_parameters: bool,
    more_after_semicolon: bool,
}

/// A small SQL lexer: comments (nested), quoted strings and identifiers, dollar quotes.
/// It only needs to be right about where code is; the server enforces one statement anyway
/// (the extended protocol refuses several) and the transaction is read-only.
fn scan(text: &str) -> Result<Scan, Refusal> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut first_word: Option<String> = None;
    let mut has_parameters = false;
    let mut after_semicolon = false;
    let mut more_after_semicolon = false;
    let unterminated =
        || Refusal("the query text ends inside a comment or string: it is cut".into());
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && next == Some(b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && next == Some(b'*') {
            let mut depth = 1;
            i += 2;
            while depth > 0 {
                match (b.get(i), b.get(i + 1)) {
                    (Some(b'/'), Some(b'*')) => {
                        depth += 1;
                        i += 2;
                    }
                    (Some(b'*'), Some(b'/')) => {
                        depth -= 1;
                        i += 2;
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => return Err(unterminated()),
                }
            }
            continue;
        }
        if after_semicolon {
            more_after_semicolon = true;
        }
        match c {
            b';' => {
                after_semicolon = true;
                i += 1;
            }
            b'\'' | b'"' => {
                // E'...' strings allow backslash escapes.
                let backslash = c == b'\''
                    && i > 0
                    && matches!(b[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident(b[i - 2]));
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(unterminated()),
                        Some(&x) if backslash && x == b'\\' => i += 2,
                        Some(&x) if x == c => {
                            if b.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'$' => {
                let prev_ident = i > 0 && is_ident(b[i - 1]);
                let digits = b[i + 1..].iter().take_while(|x| x.is_ascii_digit()).count();
                if digits > 0 && !prev_ident {
                    has_parameters = true;
                    i += 1 + digits;
                    continue;
                }
                // A dollar quote: $tag$ ... $tag$
                let tag_len = b[i + 1..]
                    .iter()
                    .take_while(|x| x.is_ascii_alphanumeric() || **x == b'_' || **x >= 0x80)
                    .count();
                if !prev_ident && b.get(i + 1 + tag_len) == Some(&b'$') {
                    let tag = &text[i..i + tag_len + 2];
                    let body_start = i + tag_len + 2;
                    match text[body_start..].find(tag) {
                        Some(end) => i = body_start + end + tag.len(),
                        None => return Err(unterminated()),
                    }
                } else {
                    i += 1;
                }
            }
            x if x.is_ascii_alphabetic() || x == b'_' => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if first_word.is_none() {
                    first_word = Some(text[start..i].to_ascii_uppercase());
                }
            }
            b'(' if first_word.is_none() => i += 1,
            _ => {
                if first_word.is_none() {
                    // Something else first (a number, a symbol): not a statement we explain.
                    first_word = Some(text[i..].chars().take(12).collect());
                }
                i += 1;
            }
        }
    }
    Ok(Scan {
        first_word,
        has_parameters,
        more_after_semicolon,
    })
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, major: u32) -> Result<TextCheck, String> {
        check_text(text, major, 1024).map_err(|r| r.0)
    }

    #[test]
    fn plain_statements_are_explained_directly() {
        let c = check(
            "  /* app */ -- x\n update accounts set b = 1 where id = 2;",
            15,
        )
        .expect("explainable");
        assert_eq!(c.keyword, "UPDATE");
        assert!(!c.has_parameters);
        assert_eq!(
            explain_sql(" update accounts set b = 1 where id = 2;", &c),
            "EXPLAIN update accounts set b = 1 where id = 2"
        );
        assert_eq!(
            check("(SELECT 1)", 15).map(|c| c.keyword),
            Ok("SELECT".into())
        );
        assert_eq!(
            check("WITH x AS (SELECT 1) SELECT * FROM x", 15).map(|c| c.keyword),
            Ok("WITH".into())
        );
    }

    #[test]
    fn parameters_need_16() {
        let e = check("UPDATE t SET a = $1 WHERE id = $2", 15).expect_err("refused");
        assert!(e.contains("GENERIC_PLAN"), "{e}");
        assert!(e.contains("16"), "{e}");
        let c = check("UPDATE t SET a = $1 WHERE id = $2", 16).expect("16 plans it");
        assert!(c.has_parameters);
        assert!(explain_sql("UPDATE t SET a = $1", &c).starts_with("EXPLAIN (GENERIC_PLAN) "));
    }

    #[test]
    fn dollars_in_strings_identifiers_and_dollar_quotes_are_not_parameters() {
        for text in [
            "SELECT '$1' FROM t",
            "SELECT \"a$1\" FROM t",
            "SELECT a$1 FROM t",
            "SELECT $$ costs $1 $$",
            "SELECT $fn$ $2 $fn$ FROM t",
            "SELECT 1 /* $1 */",
            "SELECT E'it\\'s $1'",
        ] {
            let c = check(text, 15).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(!c.has_parameters, "{text}");
        }
    }

    #[test]
    fn other_statements_several_statements_and_cut_texts_are_refused() {
        assert!(
            check("VACUUM t", 15)
                .expect_err("refused")
                .contains("VACUUM")
        );
        assert!(check("COMMIT", 15).is_err());
        assert!(
            check("SELECT 1; DROP TABLE t", 15)
                .expect_err("refused")
                .contains("more than one statement")
        );
        assert!(check("SELECT ';'; -- done", 15).is_ok());
        assert!(check("SELECT 'unterminated", 15).is_err());
        let long = format!("SELECT {}", "1 + ".repeat(300));
        let e = check_text(&long[..1023], 15, 1024).expect_err("cut");
        assert!(e.0.contains("track_activity_query_size"), "{}", e.0);
        assert!(check("", 15).is_err());
        assert!(
            check("<insufficient privilege>", 15)
                .expect_err("hidden")
                .contains("pg_monitor")
        );
    }
}

/// A NULL of whatever type the server inferred for a `$n` (GENERIC_PLAN ignores the values,
/// but the extended protocol wants one per parameter).
#[derive(Debug)]
struct AnyNull;

impl tokio_postgres::types::ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        _: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(tokio_postgres::types::IsNull::Yes)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Reads the session's text on the monitoring session.
const SESSION_SQL: &str = "/* warroom: explain */ \
SELECT coalesce(a.query, ''), a.datname::text, a.state, \
  (SELECT setting::int8 FROM pg_settings WHERE name = 'track_activity_query_size') \
FROM pg_stat_activity a WHERE a.pid = $1";

/// How long the plan may take.
const EXPLAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl super::RealPg {
    /// The plan of what session `pid` runs now (see the module comment for what is refused).
    /// Costs one statement on the monitoring session, and, when the text may be explained,
    /// a short-lived read-only session in the session's database for BEGIN READ ONLY,
    /// EXPLAIN and ROLLBACK. The query itself is never executed.
    pub async fn explain(&self, pid: i32) -> Result<ExplainResult, super::PgError> {
        use super::PgError;
        use super::client::{SessionLimits, error_text, redact};
        use tokio_postgres::types::{ToSql, Type};
        let run = |e: tokio_postgres::Error| PgError::Query(redact(&error_text(&e)));
        let (row, major) = {
            let guard = self.monitor().await?;
            let Some(client) = guard.client.as_ref() else {
                return Err(PgError::Query("no connection".into()));
            };
            let rows = tokio::time::timeout(
                self.query_timeout,
                client.query_typed(SESSION_SQL, &[(&pid, Type::INT4)]),
            )
            .await
            .map_err(|_| PgError::Timeout(self.query_timeout))?
            .map_err(run)?;
            (rows.into_iter().next(), guard.server_major)
        };
        let Some(row) = row else {
            return Ok(ExplainResult::refused(
                pid,
                String::new(),
                format!("pid {pid} is not a session on this server (any more)"),
            ));
        };
        let query: String = row.try_get(0).map_err(run)?;
        let database: Option<String> = row.try_get(1).map_err(run)?;
        let state: Option<String> = row.try_get(2).map_err(run)?;
        let size: Option<i64> = row.try_get(3).map_err(run)?;
        let size = usize::try_from(size.unwrap_or(1024)).unwrap_or(1024);
        let mut result = ExplainResult {
            pid,
            database: database.clone(),
            state,
            // Planned with the real text, shown without secrets.
            query: crate::redact::redact_secrets(&query).into_owned(),
            generic_plan: false,
            plan: Vec::new(),
            refused: None,
        };
        let check = match check_text(&query, major, size) {
            Ok(c) => c,
            Err(Refusal(why)) => {
                result.refused = Some(why);
                return Ok(result);
            }
        };
        let Some(database) = database else {
            result.refused = Some("the session is not connected to a database".into());
            return Ok(result);
        };
        result.generic_plan = check.has_parameters;
        let sql = explain_sql(&query, &check);
        let spec = if database == self.spec.dbname() {
            self.spec.clone()
        } else {
            self.spec.with_dbname(&database)
        };
        let limits = SessionLimits {
            statement_timeout: EXPLAIN_TIMEOUT,
            ..SessionLimits::default()
        };
        let wait = EXPLAIN_TIMEOUT + std::time::Duration::from_secs(2);
        let plan = tokio::time::timeout(wait, async {
            let (client, _) = spec.connect(&limits, true).await?;
            client.batch_execute("BEGIN READ ONLY").await.map_err(run)?;
            let rows = if check.has_parameters {
                let statement = client.prepare(&sql).await.map_err(run)?;
                let nulls: Vec<AnyNull> = statement.params().iter().map(|_| AnyNull).collect();
                let params: Vec<&(dyn ToSql + Sync)> =
                    nulls.iter().map(|n| n as &(dyn ToSql + Sync)).collect();
                client.query(&statement, &params).await.map_err(run)?
            } else {
                client.query_typed(&sql, &[]).await.map_err(run)?
            };
            // Nothing was written (read-only, and EXPLAIN executes nothing); end it anyway.
            client.batch_execute("ROLLBACK").await.map_err(run)?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(run))
                .collect::<Result<Vec<String>, PgError>>()
        })
        .await
        .map_err(|_| PgError::Timeout(wait))?;
        match plan {
            Ok(lines) => result.plan = lines,
            Err(PgError::Query(message)) => {
                result.refused = Some(if message.contains("permission denied") {
                    format!(
                        "the server refused to plan it as role {}: {message} (EXPLAIN needs the \
                         privileges the query needs)",
                        self.spec.user()
                    )
                } else {
                    format!("the server could not plan it: {message}")
                });
            }
            Err(other) => return Err(other),
        }
        Ok(result)
    }
}
