//! The link menu (`o`): a service's links for the selection, one per line. Where the terminal
//! supports them, each URL is an OSC 8 hyperlink (ctrl/cmd-click in the terminal); warroom
//! never opens one itself. URLs are expanded with percent-encoded values and stripped of
//! control characters, so the sequence around them cannot be broken out of.

use std::num::NonZeroU16;

use ratatui::Frame;
use ratatui::buffer::CellDiffOption;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::keymap::{KeyAction, Scope};
use crate::panes::{Ctx, Dialog, Effect, Hint};
use crate::widgets::chrome::{popup, text_body};
use warroom_core::sanitize;

/// Where a link's text starts on its line ("dashboard  ").
const URL_COLUMN: u16 = 11;

#[derive(Debug, Clone, PartialEq)]
pub struct LinkMenu {
    pub title: String,
    /// (kind, the URL or why there is none).
    pub links: Vec<(&'static str, Result<String, String>)>,
    /// The terminal shows OSC 8 hyperlinks.
    pub hyperlinks: bool,
}

const HINTS: &[Hint] = &[(&[KeyAction::ScrollClose], "close")];

impl Dialog for LinkMenu {
    fn scopes(&self) -> &'static [Scope] {
        &[Scope::Scroll]
    }

    fn on_key(
        &mut self,
        action: Option<KeyAction>,
        _key: &crossterm::event::KeyEvent,
    ) -> Option<Vec<Effect>> {
        (action == Some(KeyAction::ScrollClose)).then(Vec::new)
    }

    fn hints(&self) -> &'static [Hint] {
        HINTS
    }

    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        let inner = popup(frame, area, &self.title, ctx.theme.border());
        let mut lines = vec![
            Line::raw(if self.hyperlinks {
                "Click a link (ctrl/cmd-click) or copy it; warroom opens nothing itself."
            } else {
                "Copy a link from here; warroom opens nothing itself."
            }),
            Line::raw(""),
        ];
        for (kind, link) in &self.links {
            lines.push(Line::raw(match link {
                Ok(url) => format!("{kind:<10} {}", sanitize::cell(url, 2000)),
                Err(why) => format!("{kind:<10} - {}", sanitize::cell(why, 200)),
            }));
        }
        text_body(frame, inner, lines, 0);
        if self.hyperlinks {
            self.mark_hyperlinks(frame, inner);
        }
    }
}

impl LinkMenu {
    /// Turn each URL on screen into one OSC 8 cell as wide as its text; the cells it covers
    /// are left alone by the diff.
    fn mark_hyperlinks(&self, frame: &mut Frame<'_>, inner: Rect) {
        let room = inner.width.saturating_sub(URL_COLUMN);
        let buf = frame.buffer_mut();
        for (i, (_, link)) in self.links.iter().enumerate() {
            let Ok(url) = link else { continue };
            let y = inner.y + 2 + i as u16;
            // Percent-encoded URLs are ASCII: one column per character. Anything else (or a
            // link wider than the popup, which wraps) stays plain text.
            let url: String = url.chars().filter(|c| !c.is_control()).collect();
            if y >= inner.bottom() || !url.is_ascii() || url.len() > room as usize {
                continue;
            }
            let Some(width) = NonZeroU16::new(url.len() as u16) else {
                continue;
            };
            let x = inner.x + URL_COLUMN;
            buf[(x, y)]
                .set_symbol(&osc8(&url, &url))
                .set_diff_option(CellDiffOption::ForcedWidth(width));
            for dx in 1..width.get() {
                buf[(x + dx, y)].set_diff_option(CellDiffOption::Skip);
            }
        }
    }
}

/// `text` as an OSC 8 hyperlink to `url` (both without control characters).
pub fn osc8(url: &str, text: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
    format!("\x1b]8;;{}\x1b\\{}\x1b]8;;\x1b\\", clean(url), clean(text))
}

/// Whether the terminal shows OSC 8 hyperlinks, from its environment: `WARROOM_HYPERLINKS=1/0`
/// decides; else the terminals known to (iTerm2, WezTerm, kitty, VS Code, Windows Terminal,
/// GNOME/VTE, Konsole, foot, ghostty); not inside tmux or screen, which may not pass them on.
pub fn hyperlinks_supported(env: impl Fn(&str) -> Option<String>) -> bool {
    if let Some(v) = env("WARROOM_HYPERLINKS") {
        return v == "1";
    }
    if env("TMUX").is_some() || env("STY").is_some() {
        return false;
    }
    let term_program = env("TERM_PROGRAM").unwrap_or_default();
    let term = env("TERM").unwrap_or_default();
    ["iTerm.app", "WezTerm", "vscode", "ghostty"].contains(&term_program.as_str())
        || env("KITTY_WINDOW_ID").is_some()
        || env("WT_SESSION").is_some()
        || env("KONSOLE_VERSION").is_some()
        || env("VTE_VERSION")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| v >= 5000)
        || ["kitty", "foot", "wezterm", "ghostty"]
            .iter()
            .any(|t| term.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theme::Theme;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn menu(hyperlinks: bool) -> LinkMenu {
        let values = warroom_core::service::LinkValues {
            pod: Some("api-1\u{1b}]8;;https://evil/\u{7}x".into()),
            ..Default::default()
        };
        LinkMenu {
            title: "links of billing".into(),
            links: vec![
                (
                    "dashboard",
                    warroom_core::service::expand("https://grafana.example/d/{pod}", &values),
                ),
                (
                    "traces",
                    warroom_core::service::expand("https://t.example/{group}", &values),
                ),
            ],
            hyperlinks,
        }
    }

    fn draw(m: &LinkMenu) -> ratatui::buffer::Buffer {
        let theme = Theme::builtin_default();
        let mut t = Terminal::new(TestBackend::new(100, 10)).expect("terminal");
        t.draw(|f| m.draw(f, f.area(), &Ctx::now(&theme)))
            .expect("draw");
        t.backend().buffer().clone()
    }

    #[test]
    fn urls_are_one_hyperlink_cell_each_and_nothing_else_escapes() {
        let buf = draw(&menu(true));
        let cell = buf[(1 + URL_COLUMN, 3)].symbol().to_string();
        let url = "https://grafana.example/d/api-1%1B%5D8%3B%3Bhttps%3A%2F%2Fevil%2F%07x";
        assert_eq!(
            cell,
            format!("\u{1b}]8;;{url}\u{1b}\\{url}\u{1b}]8;;\u{1b}\\")
        );
        assert_eq!(cell.matches('\u{1b}').count(), 4, "only the framing");
        // The link without its values is plain text; so is every other cell.
        let escaped = buf
            .content()
            .iter()
            .filter(|c| c.symbol().contains('\u{1b}'))
            .count();
        assert_eq!(escaped, 1);
    }

    #[test]
    fn without_support_the_urls_are_plain_text() {
        let buf = draw(&menu(false));
        assert!(buf.content().iter().all(|c| !c.symbol().contains('\u{1b}')));
        let row: String = (0..100).map(|x| buf[(x, 3)].symbol().to_string()).collect();
        assert!(
            row.contains("dashboard  https://grafana.example/d/api-1%1B"),
            "{row}"
        );
    }

    #[test]
    fn support_is_read_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(hyperlinks_supported(env(&[("TERM_PROGRAM", "WezTerm")])));
        assert!(hyperlinks_supported(env(&[("VTE_VERSION", "7600")])));
        assert!(!hyperlinks_supported(env(&[("TERM", "xterm-256color")])));
        assert!(!hyperlinks_supported(env(&[
            ("TERM_PROGRAM", "iTerm.app"),
            ("TMUX", "x")
        ])));
        assert!(hyperlinks_supported(env(&[
            ("WARROOM_HYPERLINKS", "1"),
            ("TMUX", "x")
        ])));
        assert!(!hyperlinks_supported(env(&[
            ("WARROOM_HYPERLINKS", "0"),
            ("KITTY_WINDOW_ID", "1")
        ])));
    }
}
