//! The TUI's start: the app and its backends run on this terminal, recorded when asked.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use warroom_tui::terminal::record::Recorder;

/// The TUI, recorded when asked; the recording is complete when this returns.
pub async fn run_tui(
    app: warroom_tui::app::App,
    backends: warroom_tui::terminal::Backends,
    record: Option<&Path>,
    mut sharing: Option<warroom_client::share::Sharing>,
) -> anyhow::Result<ExitCode> {
    let recording = match record {
        Some(path) => {
            let (w, h) = crossterm::terminal::size().unwrap_or((80, 24));
            let (rec, done) = Recorder::create(path, w, h)
                .with_context(|| format!("cannot record to {}", path.display()))?;
            Some((rec, done))
        }
        None => None,
    };
    let recorder = recording.as_ref().map(|(r, _)| r.clone());
    let result = warroom_tui::terminal::run(app, backends, recorder, sharing.as_mut()).await;
    if let Some(s) = sharing {
        s.finish().await;
    }
    if let Some((rec, done)) = recording {
        drop(rec);
        done.wait().context("finishing the recording")?;
    }
    result.map(|()| ExitCode::SUCCESS)
}
