//! Shared drawing: input, layout helpers, the link menu, the statements view and the chrome
//! around panes.

pub mod chrome;
pub mod input;
pub mod layout;
pub mod link_menu;
pub mod statements;
