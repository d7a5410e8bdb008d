//! Files warroom writes for itself hold query text, names and screen contents: they are private
//! to the user. Directories it creates are 0700, files it creates or writes are 0600 (an existing
//! file it writes to is narrowed to 0600 too). A leaf module.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and its missing ancestors with mode 0700 (existing ones are left alone).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens `path` for writing (appending or truncating), creating it 0600 and its directory 0700.
pub fn open_private(path: &Path, append: bool) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).mode(0o600);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    let file = options.open(path)?;
    // A file that existed before keeps its old mode on open: narrow it. (Not for FIFOs and
    // devices, which warroom does not own.)
    if file.metadata()?.is_file() {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Writes `contents` to `path` privately (see [`open_private`]).
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = open_private(path, false)?;
    file.write_all(contents)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn created_files_and_dirs_are_private_and_loose_files_are_narrowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state/warroom/warroom.log");
        open_private(&file, true).expect("open");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("state/warroom")), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);

        let loose = dir.path().join("old.cast");
        fs::write(&loose, "x").expect("write");
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&loose, b"new").expect("write");
        assert_eq!(mode(&loose), 0o600);
        assert_eq!(fs::read_to_string(&loose).expect("read"), "new");
    }
}
