//! Backends: traits and real clients for the systems warroom watches (the simulated ones are
//! in warroom-demo).
//!
//! Nothing here knows about ratatui. Destructive methods live on separate traits
//! (`PgSignaller`) that only `guard::executor` holds.

pub mod error;
pub mod kafka;
pub mod kube;
pub mod pgpass;
pub mod postgres;

pub use error::{BackendError, ErrorKind};

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so backends can sit behind `dyn` traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
