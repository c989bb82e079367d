//! virtkit's engine: the registry of domains, per-domain jobs, the state
//! machine, revisions and events, and the [`Driver`] trait hypervisors
//! implement. Internal: applications use the `virtkit` crate, which
//! re-exports the public types defined here.

mod driver;
mod engine;
mod error;
pub mod options;
mod store;
pub mod types;

pub use driver::{Console, ConsoleIo, DomainRef, Driver, DriverEvents, Started};
pub use engine::{Engine, EngineConfig, Watcher};
pub use error::{Error, ErrorKind, Result};
