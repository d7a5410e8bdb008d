//! A small terminal screen model for `warroom shadow`: enough of the VT/xterm language that
//! warroom's own terminal writer speaks (cursor moves, SGR colours and attributes, clears,
//! text) to hold the sharer's screen as a grid, so the watcher's view can be cropped to its
//! own terminal instead of letting the bytes run past its edges. Anything else is ignored.
//! Wide characters (CJK, most emoji) take two columns, as in the sharer's terminal: the second
//! is a [`WIDE_TAIL`] cell; zero-width characters are dropped.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

/// The cell right of a wide character: covered by it, never drawn on its own.
pub const WIDE_TAIL: char = '\0';

/// Colours and attributes of a cell, kept as SGR parameter text (bounded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    fg: Option<String>,
    bg: Option<String>,
    /// SGR attribute numbers 1..=9 that are on.
    attrs: u16,
}

impl Style {
    /// The SGR sequence that sets exactly this style from any other.
    pub fn sgr(&self) -> String {
        let mut s = String::from("\x1b[0");
        for a in 1..=9u16 {
            if self.attrs & (1 << a) != 0 {
                let _ = write!(s, ";{a}");
            }
        }
        for c in [&self.fg, &self.bg].into_iter().flatten() {
            let _ = write!(s, ";{c}");
        }
        s.push('m');
        s
    }

    fn apply(&mut self, params: &str) {
        let nums: Vec<&str> = if params.is_empty() {
            vec!["0"]
        } else {
            params.split(';').collect()
        };
        let mut i = 0;
        while i < nums.len() {
            let n: u16 = nums[i].parse().unwrap_or(0);
            match n {
                0 => *self = Style::default(),
                1..=9 => self.attrs |= 1 << n,
                22 => self.attrs &= !((1 << 1) | (1 << 2)),
                23..=29 => self.attrs &= !(1 << (n - 20)),
                30..=37 | 90..=97 => self.fg = Some(n.to_string()),
                39 => self.fg = None,
                40..=47 | 100..=107 => self.bg = Some(n.to_string()),
                49 => self.bg = None,
                38 | 48 => {
                    // 38;5;N or 38;2;R;G;B
                    let len = match nums.get(i + 1).copied() {
                        Some("5") => 2,
                        Some("2") => 4,
                        _ => 0,
                    };
                    let end = (i + 1 + len).min(nums.len());
                    let colour = nums[i..end].join(";");
                    if n == 38 {
                        self.fg = Some(colour);
                    } else {
                        self.bg = Some(colour);
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub ch: char,
    pub style: Style,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            ch: ' ',
            style: Style::default(),
        }
    }
}

enum State {
    Ground,
    Escape,
    Csi(String),
    /// OSC/DCS and friends: skipped up to BEL or ESC \.
    String {
        escape: bool,
    },
}

pub struct Screen {
    width: u16,
    height: u16,
    cells: Vec<Cell>,
    row: u16,
    col: u16,
    style: Style,
    state: State,
    /// An incomplete UTF-8 sequence carried to the next feed.
    utf8: Vec<u8>,
}

impl Screen {
    pub fn new(width: u16, height: u16) -> Screen {
        let (width, height) = (width.max(1), height.max(1));
        Screen {
            width,
            height,
            cells: vec![Cell::default(); usize::from(width) * usize::from(height)],
            row: 0,
            col: 0,
            style: Style::default(),
            state: State::Ground,
            utf8: Vec::new(),
        }
    }

    pub fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// The sharer resized: keep what fits.
    pub fn resize(&mut self, width: u16, height: u16) {
        let mut next = Screen::new(width, height);
        for r in 0..self.height.min(next.height) {
            for c in 0..self.width.min(next.width) {
                let cell = self.cell(r, c).clone();
                next.put(r, c, cell);
            }
            // A wide character cut by the new right edge: its left half alone is a blank.
            let last = self.width.min(next.width) - 1;
            if next.width < self.width && next.cell(r, last).ch.width().unwrap_or(0) > 1 {
                let style = next.cell(r, last).style.clone();
                next.put(r, last, Cell { ch: ' ', style });
            }
        }
        next.style = self.style.clone();
        *self = next;
    }

    /// The cell at (row, col); the right half of a wide character is a [`WIDE_TAIL`] cell.
    pub fn cell(&self, row: u16, col: u16) -> &Cell {
        &self.cells[usize::from(row) * usize::from(self.width) + usize::from(col)]
    }

    fn put(&mut self, row: u16, col: u16, cell: Cell) {
        let i = usize::from(row) * usize::from(self.width) + usize::from(col);
        self.cells[i] = cell;
    }

    /// Writes over (row, col), blanking the other half of a wide character it cuts in two.
    fn overwrite(&mut self, row: u16, col: u16, cell: Cell) {
        if self.cell(row, col).ch == WIDE_TAIL && col > 0 {
            let head = Cell {
                ch: ' ',
                style: self.cell(row, col - 1).style.clone(),
            };
            self.put(row, col - 1, head);
        }
        if col + 1 < self.width && self.cell(row, col + 1).ch == WIDE_TAIL {
            let tail = Cell {
                ch: ' ',
                style: self.cell(row, col + 1).style.clone(),
            };
            self.put(row, col + 1, tail);
        }
        self.put(row, col, cell);
    }

    /// A printable character at the cursor: one or two columns wide.
    fn print(&mut self, c: char) {
        let style = self.style.clone();
        match c.width().unwrap_or(0) {
            0 => {}
            1 => {
                if self.col < self.width {
                    self.overwrite(self.row, self.col, Cell { ch: c, style });
                }
                self.col = (self.col + 1).min(self.width);
            }
            _ if self.col + 1 < self.width => {
                let tail = Cell {
                    ch: WIDE_TAIL,
                    style: style.clone(),
                };
                self.overwrite(self.row, self.col, Cell { ch: c, style });
                self.overwrite(self.row, self.col + 1, tail);
                self.col += 2;
            }
            _ => {
                // Half of it would fit in the last column: a blank there, like a terminal
                // that does not wrap.
                if self.col < self.width {
                    self.overwrite(self.row, self.col, Cell { ch: ' ', style });
                }
                self.col = self.width;
            }
        }
    }

    /// One row as text (for tests and plain views): a wide character once.
    pub fn row_text(&self, row: u16) -> String {
        (0..self.width)
            .map(|c| self.cell(row, c).ch)
            .filter(|&ch| ch != WIDE_TAIL)
            .collect()
    }

    pub fn text(&self) -> String {
        (0..self.height)
            .map(|r| self.row_text(r).trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        let mut data = std::mem::take(&mut self.utf8);
        data.extend_from_slice(bytes);
        let (text, rest) = match std::str::from_utf8(&data) {
            Ok(t) => (t.to_string(), Vec::new()),
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                (
                    String::from_utf8_lossy(&data[..valid]).into_owned(),
                    data[valid..].to_vec(),
                )
            }
            Err(_) => (String::from_utf8_lossy(&data).into_owned(), Vec::new()),
        };
        self.utf8 = rest;
        for ch in text.chars() {
            self.step(ch);
        }
    }

    fn step(&mut self, ch: char) {
        match std::mem::replace(&mut self.state, State::Ground) {
            State::Ground => match ch {
                '\x1b' => self.state = State::Escape,
                '\r' => self.col = 0,
                '\n' => self.row = (self.row + 1).min(self.height - 1),
                '\x08' => self.col = self.col.saturating_sub(1),
                c if c.is_control() => {}
                c => self.print(c),
            },
            State::Escape => match ch {
                '[' => self.state = State::Csi(String::new()),
                ']' | 'P' | '_' | '^' => self.state = State::String { escape: false },
                _ => {}
            },
            State::Csi(mut params) => {
                if ('\x40'..='\x7e').contains(&ch) {
                    self.csi(&params, ch);
                } else if params.len() < 64 {
                    params.push(ch);
                    self.state = State::Csi(params);
                } else {
                    self.state = State::Csi(params);
                }
            }
            State::String { escape } => {
                if ch == '\x07' || (escape && ch == '\\') {
                    return;
                }
                self.state = State::String {
                    escape: ch == '\x1b',
                };
            }
        }
    }

    fn csi(&mut self, params: &str, op: char) {
        if params.starts_with('?') || params.starts_with('>') {
            return; // modes (cursor visibility, bracketed paste): nothing on the grid
        }
        if !params.bytes().all(|b| b.is_ascii_digit() || b == b';') {
            return; // nothing warroom writes; never passed on
        }
        let nums: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
        let arg = |i: usize, default: u16| match nums.get(i) {
            Some(0) | None => default,
            Some(&n) => n,
        };
        let (w, h) = (self.width, self.height);
        match op {
            'H' | 'f' => {
                self.row = (arg(0, 1) - 1).min(h - 1);
                self.col = (arg(1, 1) - 1).min(w - 1);
            }
            'A' => self.row = self.row.saturating_sub(arg(0, 1)),
            'B' => self.row = (self.row + arg(0, 1)).min(h - 1),
            'C' => self.col = (self.col + arg(0, 1)).min(w - 1),
            'D' => self.col = self.col.saturating_sub(arg(0, 1)),
            'G' => self.col = (arg(0, 1) - 1).min(w - 1),
            'd' => self.row = (arg(0, 1) - 1).min(h - 1),
            'm' => self.style.apply(params),
            'J' => {
                let from = match nums.first().copied().unwrap_or(0) {
                    0 => usize::from(self.row) * usize::from(w) + usize::from(self.col),
                    _ => 0,
                };
                let blank = Cell {
                    ch: ' ',
                    style: self.style.clone(),
                };
                for c in &mut self.cells[from..] {
                    *c = blank.clone();
                }
            }
            'K' => {
                let blank = Cell {
                    ch: ' ',
                    style: self.style.clone(),
                };
                for c in self.col.min(w)..w {
                    self.put(self.row, c, blank.clone());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::CrosstermBackend;
    use ratatui::style::{Color, Style as RStyle};
    use ratatui::widgets::{Block, Borders, Paragraph};

    /// The bytes ratatui's crossterm backend writes (what a sharer sends) for one frame per
    /// paragraph, drawn in turn on a `width` x `height` terminal.
    fn ratatui_bytes(width: u16, height: u16, frames: Vec<Paragraph<'static>>) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        let backend = CrosstermBackend::new(&mut out);
        let viewport = ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, width, height));
        let mut terminal = Terminal::with_options(backend, ratatui::TerminalOptions { viewport })
            .expect("terminal");
        for p in frames {
            terminal
                .draw(|f| f.render_widget(p, f.area()))
                .expect("draw");
        }
        drop(terminal);
        out
    }

    /// What ratatui's crossterm backend writes rebuilds the same screen: text, position and
    /// colours, across a full draw and a diff.
    #[test]
    fn ratatui_frames_rebuild_the_drawn_screen() {
        let frame = |text: &'static str| {
            Paragraph::new(text)
                .style(RStyle::default().fg(Color::Red))
                .block(Block::default().borders(Borders::ALL).title("pg"))
        };
        let out = ratatui_bytes(
            40,
            6,
            vec![frame("pid 4242 waits ü"), frame("pid 4243 blocks")],
        );
        let mut screen = Screen::new(40, 6);
        screen.feed(&out[..7]);
        screen.feed(&out[7..]);
        let text = screen.text();
        assert!(text.contains("pid 4243 blocks"), "{text}");
        assert!(!text.contains("4242"), "the diff replaced it: {text}");
        assert!(screen.row_text(0).starts_with("┌pg"), "{text}");
        assert_eq!(screen.cell(1, 1).ch, 'p');
        assert!(
            screen.cell(1, 1).style.sgr().contains("31")
                || screen.cell(1, 1).style.sgr().contains("38;5;1")
        );
    }

    #[test]
    fn sgr_and_cursor_moves_stay_inside_the_grid() {
        let mut s = Screen::new(5, 2);
        s.feed(b"\x1b[1;31mab\x1b[0m\x1b[9;9Hz\x1b]0;title\x07\x1b[2;1Hxy");
        assert_eq!(s.row_text(0), "ab   ");
        assert_eq!(s.row_text(1), "xy  z");
        assert_eq!(s.cell(0, 0).style.sgr(), "\x1b[0;1;31m");
        assert_eq!(s.cell(1, 0).style, Style::default());
        s.resize(3, 1);
        assert_eq!(s.text(), "ab");
    }

    /// Wide characters take two columns like in the sharer's terminal: what follows stays in
    /// its column; writing over half of one blanks the other half.
    #[test]
    fn wide_characters_take_two_columns() {
        let mut s = Screen::new(8, 2);
        s.feed("a中b🙂c".as_bytes());
        assert_eq!(s.row_text(0), "a中b🙂c ");
        assert_eq!(s.cell(0, 1).ch, '中');
        assert_eq!(s.cell(0, 2).ch, WIDE_TAIL);
        assert_eq!(s.cell(0, 3).ch, 'b');
        assert_eq!(s.cell(0, 6).ch, 'c');
        // A zero-width combining mark does not move the cursor.
        s.feed("\x1b[2;1He\u{301}x".as_bytes());
        assert_eq!(s.row_text(1), "ex      ");
        // Over the right half of 中: its left half becomes a blank.
        s.feed(b"\x1b[1;3HX");
        assert_eq!(s.row_text(0), "a Xb🙂c ");
        // Over the left half of 🙂: its right half becomes a blank.
        s.feed(b"\x1b[1;5HY");
        assert_eq!(s.row_text(0), "a XbY c ");
        // Half would fit in the last column: a blank there, nothing past the edge.
        s.feed("\x1b[2;8H中".as_bytes());
        assert_eq!(s.row_text(1), "ex      ");
        // A resize that cuts a wide character keeps no half of it.
        let mut t = Screen::new(4, 1);
        t.feed("ab中".as_bytes());
        t.resize(3, 1);
        assert_eq!(t.row_text(0), "ab ");
    }

    /// ratatui's own output of wide text (which skips the covered cell) rebuilds in place.
    #[test]
    fn ratatui_wide_text_rebuilds_in_its_columns() {
        let text = Paragraph::new("订单 lock|x").block(Block::default().borders(Borders::ALL));
        let out = ratatui_bytes(20, 3, vec![text]);
        let mut screen = Screen::new(20, 3);
        screen.feed(&out);
        assert_eq!(screen.row_text(1), "│订单 lock|x       │");
        assert_eq!(screen.cell(1, 4).ch, WIDE_TAIL);
        assert_eq!(screen.cell(1, 5).ch, ' ');
        assert_eq!(screen.cell(1, 6).ch, 'l');
        assert_eq!(screen.cell(1, 19).ch, '│');
    }
}
