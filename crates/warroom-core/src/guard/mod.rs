//! Guarded destructive actions: actions as values, the policy that may refuse them, the
//! reason rules, and the one executor that audits first and then acts.

mod action;
mod context;
pub mod executor;
mod inflight;
pub mod kafka;
pub mod kube;
mod name;
pub mod pg;
mod policy;
mod reason;
pub mod status;
pub mod wire;

pub use action::GuardedAction;
pub use context::{ContextId, ContextKind};
pub use executor::{ActionReport, Delegate, Executor, GuardRequest, Outcome};
pub use inflight::{InFlight, Running};
pub use name::ActionName;
pub use pg::{PgAction, PgTarget};
pub use policy::{ContextPolicy, Policy, Refusal};
pub use reason::ReasonRules;
