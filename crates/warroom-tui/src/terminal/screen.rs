//! Raw mode and the alternate screen, undone in `Drop` and in the panic hook.

use std::io::{self, Stdout, Write};

use crossterm::cursor::Show;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::record::{Recorder, TeeWriter};

pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<TeeWriter<Stdout>>>,
}

/// Put the terminal back the way the user had it. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = execute!(out, DisableBracketedPaste, LeaveAlternateScreen, Show);
    let _ = out.flush();
}

impl TerminalGuard {
    /// With a recorder, every frame written to the terminal is also recorded.
    pub fn enter(
        recorder: Option<Recorder>,
        share: Option<warroom_client::share::ShareFeed>,
    ) -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut out = io::stdout();
        // Bracketed paste: a paste arrives as one Paste event, never as keystrokes (a pasted
        // newline must not press Enter on a prompt or a confirmation).
        if let Err(e) = execute!(out, EnterAlternateScreen, EnableBracketedPaste) {
            restore();
            return Err(e);
        }
        let terminal = Terminal::new(CrosstermBackend::new(
            TeeWriter::new(out, recorder).sharing(share),
        ))
        .inspect_err(|_| restore())?;
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
