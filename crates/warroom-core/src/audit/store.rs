//! Local, blocking file operations: the append-only hash-chained JSONL file and the pending spool.
//!
//! Call these from `spawn_blocking`: they fsync and they wait for advisory locks held by other
//! warroom processes (`File::lock`, i.e. `flock(2)`, which also serializes two opens in one process).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::record::{AuditRecord, GENESIS_HASH};
use super::settings::with_suffix;

/// A local write or read failed. The message names the file and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalError(pub String);

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn io_err(what: &str, path: &Path, err: &io::Error) -> LocalError {
    LocalError(format!("cannot {what} {}: {err}", path.display()))
}

/// Appends `records` to the chain in `path`, in order, as one write followed by fsync. Fills in
/// each record's `prev_hash` and `hash`. Creates the file (mode 0600) and its directories (0700)
/// when missing. The exclusive lock makes "read the last hash, append" atomic across processes.
pub(crate) fn append_records(path: &Path, records: &mut [AuditRecord]) -> Result<(), LocalError> {
    if let Some(dir) = parent_dir(path) {
        ensure_dir(dir)?;
    }
    let file = open_append(path, true).map_err(|e| io_err("open the audit file", path, &e))?;
    file.lock()
        .map_err(|e| io_err("lock the audit file", path, &e))?;
    let was_empty = file
        .metadata()
        .map_err(|e| io_err("read the audit file", path, &e))?
        .len()
        == 0;
    let mut prev = last_hash(&file, path)?;
    let mut buf = String::new();
    for record in records.iter_mut() {
        let line = record
            .seal(&prev)
            .map_err(|e| LocalError(format!("cannot encode an audit record: {e}")))?;
        buf.push_str(&line);
        buf.push('\n');
        prev = record.hash.clone();
    }
    let mut writer = &file;
    writer
        .write_all(buf.as_bytes())
        .map_err(|e| io_err("append to the audit file", path, &e))?;
    file.sync_data()
        .map_err(|e| io_err("fsync the audit file", path, &e))?;
    if was_empty {
        // First record: make the directory entry durable too.
        if let Some(dir) = parent_dir(path) {
            fsync_dir(dir)?;
        }
    }
    // The lock is released when `file` is closed.
    Ok(())
}

/// The `hash` of the last record of the (locked) file, or the genesis hash for an empty file.
fn last_hash(file: &File, path: &Path) -> Result<String, LocalError> {
    let lines = read_last_lines(file, 1).map_err(|e| io_err("read the audit file", path, &e))?;
    let Some(last) = lines.last() else {
        return Ok(GENESIS_HASH.to_string());
    };
    let damaged = |why: &str| {
        LocalError(format!(
            "the audit file {} ends with a damaged record ({why}); \
             run `warroom audit verify` and move the file aside to start a new chain",
            path.display()
        ))
    };
    if !last.terminated {
        return Err(damaged("no newline at the end: an interrupted write"));
    }
    let value: Value =
        serde_json::from_slice(&last.bytes).map_err(|_| damaged("the last line is not JSON"))?;
    match value.get("hash").and_then(Value::as_str) {
        Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hash.to_string())
        }
        _ => Err(damaged("the last line has no valid \"hash\"")),
    }
}

/// One line read from the end of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailLine {
    pub bytes: Vec<u8>,
    /// Whether the line ended with '\n' (only the very last line of a file can lack it).
    pub terminated: bool,
}

/// The last `n` non-empty lines of `file`, oldest first, reading backwards in chunks so that a
/// large file is not read whole.
pub(crate) fn read_last_lines(file: &File, n: usize) -> io::Result<Vec<TailLine>> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 16 * 1024;

    let len = file.metadata()?.len();
    if n == 0 || len == 0 {
        return Ok(Vec::new());
    }
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    let mut newlines = 0usize;
    // Stop once `buf` holds more than n newlines: then at least n whole lines follow the first one
    // (a trailing newline at EOF is counted, hence "more than").
    while pos > 0 && newlines <= n {
        let size = CHUNK.min(pos);
        pos -= size;
        let mut chunk = vec![0u8; usize::try_from(size).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut chunk, pos)?;
        newlines += chunk.iter().filter(|&&b| b == b'\n').count();
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let ends_with_newline = buf.last() == Some(&b'\n');
    let mut segments: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
    if ends_with_newline {
        segments.pop(); // the empty piece after the final '\n'
    }
    if pos > 0 && !segments.is_empty() {
        segments.remove(0); // starts mid-line
    }
    let count = segments.len();
    let mut lines: Vec<TailLine> = segments
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| TailLine {
            bytes: s.to_vec(),
            terminated: i + 1 < count || ends_with_newline,
        })
        .collect();
    if lines.len() > n {
        lines.drain(..lines.len() - n);
    }
    Ok(lines)
}

fn open_append(path: &Path, read: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true).read(read);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// Creates `dir` and its missing ancestors (mode 0700), fsyncing the parent of each created one.
fn ensure_dir(dir: &Path) -> Result<(), LocalError> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() {
            break;
        }
        match fs::metadata(d) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(LocalError(format!(
                    "cannot create the audit directory {}: {} is not a directory",
                    dir.display(),
                    d.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(d.to_path_buf());
                cur = d.parent();
            }
            Err(e) => return Err(io_err("create the audit directory", dir, &e)),
        }
    }
    for d in missing.iter().rev() {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(d) {
            Ok(()) => {}
            // Another process created it in between.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => return Err(io_err("create the audit directory", d, &e)),
        }
        if let Some(parent) = parent_dir(d) {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), LocalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync the directory", dir, &e))
}

// ---------------------------------------------------------------------------------------------
// Pending spool: `<file>.pending`, one full JSON record per line, oldest first.
//
// Every spool operation holds an exclusive lock on `<file>.pending.lock` (a file that is never
// renamed, unlike the spool itself which is replaced atomically). A flush holds it for its whole
// run, network calls included, so two processes never deliver the same record.

/// Holds the spool lock until dropped.
pub(crate) struct SpoolLock {
    _file: File,
}

pub(crate) fn lock_spool(pending: &Path) -> Result<SpoolLock, LocalError> {
    if let Some(dir) = parent_dir(pending) {
        ensure_dir(dir)?;
    }
    let lock_path = with_suffix(pending, ".lock");
    let file = open_append(&lock_path, false)
        .map_err(|e| io_err("open the spool lock", &lock_path, &e))?;
    file.lock()
        .map_err(|e| io_err("lock the spool", &lock_path, &e))?;
    Ok(SpoolLock { _file: file })
}

/// Appends lines (full JSON records) to the spool and fsyncs. Caller holds the spool lock.
pub(crate) fn spool_append(
    pending: &Path,
    lines: &[String],
    _lock: &SpoolLock,
) -> Result<(), LocalError> {
    let existed = pending.exists();
    let mut file =
        open_append(pending, false).map_err(|e| io_err("open the audit spool", pending, &e))?;
    let mut buf = String::new();
    for line in lines {
        buf.push_str(line);
        buf.push('\n');
    }
    file.write_all(buf.as_bytes())
        .map_err(|e| io_err("append to the audit spool", pending, &e))?;
    file.sync_data()
        .map_err(|e| io_err("fsync the audit spool", pending, &e))?;
    if !existed && let Some(dir) = parent_dir(pending) {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// The spool's lines, oldest first (empty when there is no spool). Caller holds the spool lock.
pub(crate) fn read_spool(pending: &Path, _lock: &SpoolLock) -> Result<Vec<String>, LocalError> {
    let mut text = String::new();
    match File::open(pending) {
        Ok(mut f) => {
            f.read_to_string(&mut text)
                .map_err(|e| io_err("read the audit spool", pending, &e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("open the audit spool", pending, &e)),
    }
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// Replaces the spool with `remaining` atomically (temp file, fsync, rename, fsync dir); removes
/// it when nothing remains. Caller holds the spool lock.
pub(crate) fn rewrite_spool(
    pending: &Path,
    remaining: &[String],
    _lock: &SpoolLock,
) -> Result<(), LocalError> {
    if remaining.is_empty() {
        match fs::remove_file(pending) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("remove the delivered audit spool", pending, &e)),
        }
    } else {
        let tmp = with_suffix(pending, ".tmp");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .map_err(|e| io_err("write the audit spool", &tmp, &e))?;
        let mut buf = String::new();
        for line in remaining {
            buf.push_str(line);
            buf.push('\n');
        }
        file.write_all(buf.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err("write the audit spool", &tmp, &e))?;
        fs::rename(&tmp, pending).map_err(|e| io_err("replace the audit spool", pending, &e))?;
    }
    if let Some(dir) = parent_dir(pending) {
        fsync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(file: &File, n: usize) -> Vec<String> {
        read_last_lines(file, n)
            .expect("read")
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect()
    }

    #[test]
    fn read_last_lines_handles_chunk_boundaries_and_missing_final_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let long = "x".repeat(40_000);
        fs::write(&path, format!("a\n{long}\nb\nc\n")).expect("write");
        let f = File::open(&path).expect("open");
        assert_eq!(lines_of(&f, 1), vec!["c"]);
        assert_eq!(lines_of(&f, 3), vec![long.clone(), "b".into(), "c".into()]);
        assert_eq!(
            lines_of(&f, 10),
            vec!["a".into(), long, "b".into(), "c".into()]
        );
        assert!(lines_of(&f, 0).is_empty());

        fs::write(&path, "a\nb").expect("write");
        let f = File::open(&path).expect("open");
        let last = read_last_lines(&f, 1).expect("read");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].bytes, b"b");
        assert!(!last[0].terminated);
    }

    #[test]
    fn append_creates_dirs_and_a_private_file_and_chains() {
        use super::super::record::sample;
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/audit.jsonl");
        let mut first = [sample("r1")];
        append_records(&path, &mut first).expect("append");
        let mut more = [sample("r2"), sample("r3")];
        append_records(&path, &mut more).expect("append");
        assert_eq!(first[0].prev_hash, GENESIS_HASH);
        assert_eq!(more[0].prev_hash, first[0].hash);
        assert_eq!(more[1].prev_hash, more[0].hash);
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn append_refuses_after_a_torn_last_line() {
        use super::super::record::sample;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        fs::write(&path, "{\"hash\":\"ab").expect("write");
        let err = append_records(&path, &mut [sample("r1")]).expect_err("must refuse");
        assert!(err.0.contains("damaged record"), "{err}");
    }

    #[test]
    fn append_refuses_when_the_parent_is_a_file() {
        use super::super::record::sample;
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        fs::write(&blocker, "").expect("write");
        let err = append_records(&blocker.join("audit.jsonl"), &mut [sample("r1")])
            .expect_err("must refuse");
        assert!(err.0.contains("is not a directory"), "{err}");
    }

    #[test]
    fn spool_append_read_rewrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = dir.path().join("audit.jsonl.pending");
        let lock = lock_spool(&pending).expect("lock");
        assert!(read_spool(&pending, &lock).expect("read").is_empty());
        spool_append(
            &pending,
            &["{\"id\":\"1\"}".into(), "{\"id\":\"2\"}".into()],
            &lock,
        )
        .expect("append");
        spool_append(&pending, &["{\"id\":\"3\"}".into()], &lock).expect("append");
        assert_eq!(read_spool(&pending, &lock).expect("read").len(), 3);
        rewrite_spool(&pending, &["{\"id\":\"3\"}".into()], &lock).expect("rewrite");
        assert_eq!(
            read_spool(&pending, &lock).expect("read"),
            vec!["{\"id\":\"3\"}".to_string()]
        );
        rewrite_spool(&pending, &[], &lock).expect("rewrite");
        assert!(!pending.exists());
    }
}
