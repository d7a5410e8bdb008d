//! A dialog a pane pushed: it gets the keys (translated in its own scopes) until it closes
//! with effects for the App to perform.

use super::{Layer, LayerKey};
use crate::app::{App, Command};
use crate::panes::Dialog;

impl App {
    pub(super) fn dialog_key(
        &mut self,
        mut dialog: Box<dyn Dialog>,
        key: LayerKey,
    ) -> Vec<Command> {
        match dialog.on_key(key.action, &key.event) {
            None => {
                self.layers.push(Layer::Dialog(dialog));
                Vec::new()
            }
            Some(effects) => self.perform(effects),
        }
    }
}
