//! Themes: colours named by meaning, read from TOML. The shipped themes are compiled in,
//! so warroom works from any directory; user themes live in $XDG_CONFIG_HOME/warroom/themes/.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../../themes/default.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    fg: String,
    bg: String,
    muted: String,
    accent: String,
    ok: String,
    warn: String,
    danger: String,
    selection_fg: String,
    selection_bg: String,
    border: String,
    header: String,
}

/// The palette every pane draws with.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub muted: Color,
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub danger: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub border: Color,
    pub header: Color,
    /// NO_COLOR: no colours at all, emphasis by bold and reverse video only.
    pub monochrome: bool,
}

impl Theme {
    /// Names of the shipped themes plus the user's.
    pub fn available() -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        if let Some(dir) = user_dir()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                    && !names.iter().any(|n| n == stem)
                {
                    names.push(stem.to_string());
                }
            }
        }
        names
    }

    /// The theme source text: a user file wins over a shipped theme of the same name.
    pub fn find(name: &str) -> Option<(String, String)> {
        if !name.is_empty()
            && !name.contains(['/', '\\', '.'])
            && let Some(dir) = user_dir()
        {
            let path = dir.join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Some((path.display().to_string(), text));
            }
        }
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| (format!("(built-in theme {n})"), t.to_string()))
    }

    /// Load by name; NO_COLOR (any non-empty value) turns colours off.
    pub fn load(name: &str) -> Result<Theme, String> {
        let (origin, text) = Theme::find(name).ok_or_else(|| {
            format!(
                "unknown theme {name:?}; available: {}",
                Theme::available().join(", ")
            )
        })?;
        let mut theme = Theme::parse(name, &text).map_err(|e| format!("{origin}: {e}"))?;
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            theme = theme.without_colour();
        }
        Ok(theme)
    }

    pub fn parse(name: &str, text: &str) -> Result<Theme, String> {
        let raw: RawTheme = toml::from_str(text).map_err(|e| {
            let (line, col) = warroom_core::config::line_col(text, e.span().map_or(0, |s| s.start));
            format!("{line}:{col}: {}", e.message().trim())
        })?;
        let c = |field: &str, v: &str| {
            Color::from_str(v).map_err(|_| format!("{field}: {v:?} is not a colour"))
        };
        Ok(Theme {
            name: name.to_string(),
            fg: c("fg", &raw.fg)?,
            bg: c("bg", &raw.bg)?,
            muted: c("muted", &raw.muted)?,
            accent: c("accent", &raw.accent)?,
            ok: c("ok", &raw.ok)?,
            warn: c("warn", &raw.warn)?,
            danger: c("danger", &raw.danger)?,
            selection_fg: c("selection_fg", &raw.selection_fg)?,
            selection_bg: c("selection_bg", &raw.selection_bg)?,
            border: c("border", &raw.border)?,
            header: c("header", &raw.header)?,
            monochrome: false,
        })
    }

    pub fn without_colour(self) -> Theme {
        let r = Color::Reset;
        Theme {
            fg: r,
            bg: r,
            muted: r,
            accent: r,
            ok: r,
            warn: r,
            danger: r,
            selection_fg: r,
            selection_bg: r,
            border: r,
            header: r,
            monochrome: true,
            ..self
        }
    }

    /// The compiled-in default, for tests and as a last resort.
    pub fn builtin_default() -> Theme {
        BUILTIN
            .first()
            .and_then(|(n, t)| Theme::parse(n, t).ok())
            .unwrap_or_else(|| Theme {
                name: "fallback".into(),
                fg: Color::Reset,
                bg: Color::Reset,
                muted: Color::DarkGray,
                accent: Color::Cyan,
                ok: Color::Green,
                warn: Color::Yellow,
                danger: Color::Red,
                selection_fg: Color::Black,
                selection_bg: Color::Cyan,
                border: Color::DarkGray,
                header: Color::White,
                monochrome: false,
            })
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn muted(&self) -> Style {
        Style::default().fg(self.muted)
    }
    pub fn accent(&self) -> Style {
        bold(self.accent)
    }
    pub fn ok(&self) -> Style {
        Style::default().fg(self.ok)
    }
    pub fn warn(&self) -> Style {
        let s = Style::default().fg(self.warn);
        if self.monochrome {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }
    pub fn danger(&self) -> Style {
        bold(self.danger)
    }
    pub fn border(&self) -> Style {
        Style::default().fg(self.border)
    }
    pub fn header(&self) -> Style {
        bold(self.header)
    }
    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        }
    }
}

/// Bold text in `color`: accents, headers and danger.
fn bold(color: Color) -> Style {
    Style::default().fg(color).add_modifier(Modifier::BOLD)
}

fn user_dir() -> Option<std::path::PathBuf> {
    warroom_core::config::config_dir().map(|d| d.join("themes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse() {
        for (name, text) in BUILTIN {
            Theme::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn bad_colour_names_the_field() {
        let text = include_str!("../../../themes/default.toml").replace("#88c0d0", "blurple");
        let err = Theme::parse("x", &text).expect_err("bad colour");
        assert!(err.contains("accent"), "{err}");
    }

    #[test]
    fn monochrome_drops_colours() {
        let t = Theme::builtin_default().without_colour();
        assert_eq!(t.danger, Color::Reset);
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }
}
