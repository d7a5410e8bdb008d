//! Moved to [`crate::sanitize`] (a leaf module, shared by the CLI, the audit code and the panes).
//! Kept as a re-export so existing paths keep working.

pub use crate::sanitize::*;
