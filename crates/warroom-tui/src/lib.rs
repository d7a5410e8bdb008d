//! warroom's terminal UI: the App (router and layers), the panes, the widgets, the workers that
//! poll and stream the backends, the terminal runtime, themes and the keymap, and `setup`, the
//! one assembly of an App, its backends and the guard executor.
//!
//! Panes know nothing of tokio-postgres, rdkafka or kube (they see `warroom_core::backends`
//! types); `App::update` does no I/O and `render` never waits; the server is reached only
//! through `warroom_client`.

pub mod app;
pub mod command;
pub mod keymap;
pub mod panes;
pub mod settings;
pub mod setup;
pub mod terminal;
pub mod theme;
pub mod widgets;
pub mod workers;
