//! virtkit's engine: one host. The registry of every kind of object
//! (domains, networks, storage pools and volumes), their jobs and states,
//! one revision counter and one event stream for all of them, persistence,
//! and the traits drivers implement. Internal: applications use the
//! `virtkit` crate, which re-exports the public types defined here.

mod domain;
mod driver;
mod engine;
mod error;
mod jobs;
mod kind;
mod lifecycle;
mod network;
pub mod network_driver;
mod network_update;
mod objects;
pub mod options;
mod registry;
pub mod seams;
mod secret;
mod storage;
mod storage_api;
pub mod storage_driver;
mod store;
mod transfer;
pub mod types;
mod volume;
mod volume_use;

pub use driver::{Console, ConsoleIo, DomainDriver, DomainRef, DriverEvents, Started};
pub use engine::{Drivers, Engine, EngineConfig};
pub use error::{Error, ErrorKind, Result};
pub use jobs::{JobCtl, JobState};
pub use kind::{Definition, ObjRef};
pub use objects::{Def, Info};
pub use registry::Watcher;
pub use secret::MAX_VALUE as MAX_SECRET_VALUE;
pub use storage::volume_uuid;
pub use transfer::{HandedFile, Piece, Sink, Source};
