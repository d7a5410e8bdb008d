//! The `warroom audit ...` commands as functions: what to print on stdout and stderr and the exit
//! status, so the CLI only prints. Everything printed goes through the one sanitizer.

use std::path::Path;
use std::time::Duration;

use super::{AuditLog, orphan_report, read_records_checked, render_tail_line, tail_checked};
use crate::sanitize;

/// What a command prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl CommandOutput {
    fn out(&mut self, line: &str) {
        self.stdout.push_str(&sanitize::lines(line, 100_000));
        self.stdout.push('\n');
    }

    fn err(&mut self, line: &str) {
        self.stderr.push_str(&sanitize::lines(line, 100_000));
        self.stderr.push('\n');
    }

    fn failed(line: &str, code: u8) -> CommandOutput {
        let mut o = CommandOutput {
            code,
            ..CommandOutput::default()
        };
        o.err(line);
        o
    }
}

/// `audit verify [--expect-head HASH]`: the count and head hash, or the first broken record.
pub fn verify(path: &Path, expect_head: Option<&str>) -> CommandOutput {
    match super::verify(path) {
        Ok(report) => {
            if let Some(expected) = expect_head
                && let Err(why) = report.check_head(expected)
            {
                return CommandOutput::failed(&format!("{}: {why}", path.display()), 1);
            }
            let mut o = CommandOutput::default();
            o.out(&report.summary(path));
            o
        }
        Err(e) => CommandOutput::failed(&format!("{}: {e}", path.display()), 1),
    }
}

/// `audit tail -n N`: one line per record; unreadable lines reported on stderr.
pub fn tail(path: &Path, n: usize) -> CommandOutput {
    match tail_checked(path, n) {
        Ok(report) => {
            let mut o = CommandOutput::default();
            for r in &report.records {
                o.out(&render_tail_line(r));
            }
            if let Some(w) = report.warning(path) {
                o.err(&w);
            }
            o
        }
        Err(e) => CommandOutput::failed(&format!("cannot read {}: {e}", path.display()), 1),
    }
}

/// `audit timeline [--since AGE]`: markdown or JSON; unreadable lines reported on stderr; an age
/// before 1970 is an error.
pub fn timeline(
    path: &Path,
    since: Option<Duration>,
    json: bool,
    recordings: &[super::timeline::RecordingStart],
) -> CommandOutput {
    let cutoff = match since.map(super::timeline::since_cutoff).transpose() {
        Ok(c) => c,
        Err(why) => return CommandOutput::failed(&format!("error: {why}"), 2),
    };
    let report = match read_records_checked(path) {
        Ok(r) => r,
        Err(e) => {
            return CommandOutput::failed(&format!("cannot read {}: {e}", path.display()), 1);
        }
    };
    let mut entries = super::timeline::timeline(&report.records, cutoff);
    super::timeline::link_recordings(&mut entries, recordings);
    let mut o = CommandOutput::default();
    if json {
        match serde_json::to_string_pretty(&entries) {
            Ok(text) => {
                o.stdout.push_str(&sanitize::escape_json_output(&text));
                o.stdout.push('\n');
            }
            Err(e) => return CommandOutput::failed(&format!("cannot encode: {e}"), 1),
        }
    } else {
        // Cells are sanitized already; the table keeps its line breaks.
        o.stdout
            .push_str(&super::timeline::render_markdown(&entries));
    }
    if let Some(w) = report.warning(path) {
        o.err(&w);
    }
    o
}

/// The start-up line about intents without an outcome, with what to do; `None` when there are
/// none (or the file cannot be read: `verify` reports that).
pub async fn orphan_notice(log: &AuditLog) -> Option<String> {
    let orphans = log.orphan_intents().await.ok()?;
    orphan_report(&orphans).map(|line| {
        sanitize::cell(
            &format!(
                "{line}; check the target, then run `warroom audit reconcile` to record the \
                 outcome as unknown"
            ),
            2000,
        )
    })
}

/// `audit reconcile`: report the intents without an outcome and close each with an outcome
/// `unknown`, chained and delivered like any record.
pub async fn reconcile(log: &AuditLog) -> CommandOutput {
    let orphans = match log.orphan_intents().await {
        Ok(o) => o,
        Err(e) => return CommandOutput::failed(&e, 1),
    };
    let mut o = CommandOutput::default();
    let Some(line) = orphan_report(&orphans) else {
        o.out("no intent without an outcome: nothing to reconcile");
        return o;
    };
    o.out(&line);
    match log.reconcile().await {
        Ok(done) => {
            for (intent, delivery) in done {
                o.out(&format!(
                    "{}: recorded outcome unknown ({}); {}",
                    super::describe_intent(&intent),
                    delivery.id,
                    delivery.note
                ));
                if !delivery.written_locally || (!delivery.delivered && delivery.spooled) {
                    o.code = o.code.max(crate::guard::status::EXIT_LOCAL_ONLY);
                }
            }
        }
        Err(e) => return CommandOutput::failed(&e, 1),
    }
    o
}
