//! `warroom shadow ID`: someone's shared session, read-only, live, in this terminal. The
//! stream is rebuilt into a screen grid ([`super::vt`]) and drawn cropped to this terminal,
//! under one line that says whom you watch (and that the view is cropped when it is). `q`,
//! Esc or ctrl-c leaves; nothing typed here reaches the sharer.

use std::io::Write;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyModifiers};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode};
use futures::StreamExt;

use unicode_width::UnicodeWidthChar;

use super::vt::{Screen, WIDE_TAIL};
use warroom_client::ServerClient;
use warroom_client::share::WatchEvent;

/// Raw mode and the alternate screen for the viewer, undone on drop.
struct ViewerTerminal;

impl ViewerTerminal {
    fn enter() -> std::io::Result<ViewerTerminal> {
        enable_raw_mode()?;
        let mut out = std::io::stdout();
        if let Err(e) = crossterm::execute!(
            out,
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        ) {
            super::screen::restore();
            return Err(e);
        }
        Ok(ViewerTerminal)
    }
}

impl Drop for ViewerTerminal {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        super::screen::restore();
    }
}

struct View {
    screen: Screen,
    actor: String,
    live: bool,
    marker: Option<String>,
    ended: Option<String>,
}

/// Runs until the watcher leaves; returns why the stream ended, if it did. With `at`
/// (seconds into the recording, `--at`), the recording is replayed up to that moment and
/// stays there: the screen as the sharer saw it then.
pub async fn run(
    client: &ServerClient,
    id: &str,
    from_start: bool,
    at: Option<f64>,
) -> anyhow::Result<Option<String>> {
    let events = match at {
        Some(at) => client.replay_until(id, at).await,
        None => client.watch(id, from_start).await,
    };
    let mut events = events.map_err(anyhow::Error::msg)?;
    let from_start = from_start || at.is_some();
    let _terminal = ViewerTerminal::enter()?;
    let mut keys = EventStream::new();
    let mut view = View {
        screen: Screen::new(80, 24),
        actor: String::from("?"),
        live: !from_start,
        marker: None,
        ended: None,
    };
    let mut redraw = tokio::time::interval(Duration::from_millis(40));
    let mut dirty = true;
    loop {
        tokio::select! {
            ev = events.recv(), if view.ended.is_none() => {
                dirty = true;
                match ev {
                    Some(Ok(WatchEvent::Header { width, height, actor, live })) => {
                        view.screen = Screen::new(width, height);
                        view.actor = warroom_core::sanitize::cell(&actor, 80);
                        view.live = live;
                    }
                    Some(Ok(WatchEvent::Output(text))) => view.screen.feed(text.as_bytes()),
                    Some(Ok(WatchEvent::Resize(w, h))) => view.screen.resize(w, h),
                    Some(Ok(WatchEvent::Marker(m))) => view.marker = Some(warroom_core::sanitize::cell(&m, 200)),
                    Some(Ok(WatchEvent::End)) => view.ended = Some("the share ended".into()),
                    Some(Ok(WatchEvent::Reached(at))) => view.ended = Some(format!("at +{at:.1}s (--at)")),
                    Some(Err(e)) => view.ended = Some(warroom_core::sanitize::cell(&e, 200)),
                    None => view.ended = Some("the stream closed".into()),
                }
            }
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) => {
                    let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c');
                    if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                        return Ok(view.ended);
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(view.ended),
            },
            _ = redraw.tick() => {
                if dirty {
                    draw(&view)?;
                    dirty = false;
                }
            }
        }
    }
}

/// The note line, then the sharer's screen cropped to what fits.
fn draw(view: &View) -> std::io::Result<()> {
    let (tw, th) = crossterm::terminal::size().unwrap_or((80, 24));
    let (w, h) = view.screen.size();
    let mut note = format!(" shadowing {}", view.actor);
    if w > tw || h > th.saturating_sub(1) {
        note.push_str(&format!(
            " · cropped: {w}x{h} shown in {tw}x{}",
            th.saturating_sub(1)
        ));
    }
    note.push_str(if view.live {
        " · live · read-only · q leaves"
    } else {
        " · recording · q leaves"
    });
    if let Some(why) = &view.ended {
        note.push_str(&format!(" · {why}"));
    } else if let Some(m) = &view.marker {
        note.push_str(&format!(" · {m}"));
    }
    let note: String = note.chars().take(usize::from(tw)).collect();
    let mut out = Vec::with_capacity(usize::from(tw) * usize::from(th) * 2);
    let _ = write!(out, "\x1b[H\x1b[0;7m{note}\x1b[K\x1b[0m");
    let rows = h.min(th.saturating_sub(1));
    let cols = w.min(tw);
    for r in 0..rows {
        let _ = write!(out, "\x1b[{};1H", r + 2);
        let mut current = None;
        for c in 0..cols {
            let cell = view.screen.cell(r, c);
            if cell.ch == WIDE_TAIL {
                continue; // drawn by the wide character on its left
            }
            if current != Some(&cell.style) {
                out.extend_from_slice(cell.style.sgr().as_bytes());
                current = Some(&cell.style);
            }
            // A wide character cut by the crop would spill past the edge: a blank instead.
            let ch = if c + 1 == cols && view.screen.cell(r, c).ch.width().unwrap_or(0) > 1 {
                ' '
            } else {
                cell.ch
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        out.extend_from_slice(b"\x1b[0m\x1b[K");
    }
    if rows + 1 < th {
        // Below their screen: blank.
        let _ = write!(out, "\x1b[{};1H\x1b[0m\x1b[J", rows + 2);
    }
    let mut stdout = std::io::stdout();
    stdout.write_all(&out)?;
    stdout.flush()
}
