//! The terminal UI's part of the configuration file, `theme` and `[keys]`: checked here, with
//! errors that point into the file (file:line:col) like every other configuration error.

use std::collections::BTreeMap;

use toml::Spanned;
use warroom_core::config::{Config, ConfigError, FileText, KeyList, closest};

use crate::keymap::{KeyAction, KeyChord, Keymap};
use crate::theme::Theme;

/// The theme's name and the keymap, as the file sets them.
#[derive(Debug, Clone)]
pub struct UiSettings {
    pub theme: String,
    pub keymap: Keymap,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            theme: "default".into(),
            keymap: Keymap::default(),
        }
    }
}

impl UiSettings {
    /// The configuration's `theme` and `[keys]`, checked.
    pub fn read(config: &Config) -> Result<UiSettings, ConfigError> {
        let ui = &config.ui;
        let Some(file) = &ui.file else {
            return Ok(UiSettings::default());
        };
        Ok(UiSettings {
            theme: theme(file, ui.theme.as_ref())?,
            keymap: keymap(file, &ui.keys)?,
        })
    }
}

fn theme(file: &FileText, theme: Option<&Spanned<String>>) -> Result<String, ConfigError> {
    let Some(t) = theme else {
        return Ok("default".into());
    };
    if Theme::find(t.get_ref()).is_none() {
        return Err(file.err(
            t.span(),
            format!(
                "unknown theme {:?}; available: {}",
                t.get_ref(),
                Theme::available().join(", ")
            ),
        ));
    }
    Ok(t.get_ref().clone())
}

/// `[keys]`: every binding known and free of conflicts.
fn keymap(
    file: &FileText,
    keys: &BTreeMap<String, Spanned<KeyList>>,
) -> Result<Keymap, ConfigError> {
    let mut keymap = Keymap::default();
    for (action, list) in keys {
        let Some(a) = KeyAction::from_name(action) else {
            let names = KeyAction::names();
            let message = match closest(action, &names) {
                Some(near) => format!("unknown action {action:?}; did you mean {near:?}?"),
                None => format!("unknown action {action:?}; actions: {}", names.join(", ")),
            };
            let at = file.find(list.span(), action).unwrap_or(list.span());
            return Err(file.err(at, message));
        };
        let mut chords = Vec::new();
        for k in list.get_ref().keys() {
            let chord = KeyChord::parse(k).map_err(|m| file.err(list.span(), m))?;
            chords.push(chord);
        }
        keymap.rebind(a, chords);
    }
    if let Err(m) = keymap.check_conflicts() {
        // Point at the configured binding involved (the last one in the file).
        let span = keys
            .iter()
            .filter(|(action, _)| m.contains(&format!("{action:?}")))
            .map(|(_, k)| k.span())
            .max_by_key(|s| s.start)
            .or_else(|| keys.values().next().map(|k| k.span()))
            .unwrap_or(0..0);
        return Err(file.err(span, format!("{m}: bind one of them to another key")));
    }
    Ok(keymap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::Scope;
    use std::path::Path;

    #[test]
    fn theme_and_keys_are_read_from_the_file() {
        let text = "theme = \"light\"\n[keys]\ncancel = \"C\"\nquit = [\"q\", \"ctrl-q\"]\n";
        let c = Config::parse(Path::new("c.toml"), text).expect("valid");
        let ui = UiSettings::read(&c).expect("valid");
        assert_eq!(ui.theme, "light");
        let chord = KeyChord::parse("C").expect("key");
        assert_eq!(
            ui.keymap.lookup(Scope::Postgres, chord),
            Some(KeyAction::Cancel)
        );
    }

    #[test]
    fn unknown_theme_and_action_point_into_the_file() {
        let c = Config::parse(Path::new("c.toml"), "theme = \"nope\"\n").expect("core part");
        let e = UiSettings::read(&c).expect_err("unknown theme").to_string();
        assert!(
            e.contains("c.toml:1:9") && e.contains("unknown theme"),
            "{e}"
        );
        let c = Config::parse(Path::new("c.toml"), "[keys]\ncancle = \"C\"\n").expect("core");
        let e = UiSettings::read(&c)
            .expect_err("unknown action")
            .to_string();
        assert!(
            e.contains("c.toml:2:1") && e.contains("did you mean \"cancel\""),
            "{e}"
        );
    }
}
