//! The values the API hands out: states and their reasons, domain info and
//! statistics, events, host facts. Public through the `virtkit` crate.
//! One file per concern; every type is public here, at `types::`.

use serde::{Deserialize, Serialize};

/// Generates a word enum with `as_str`, `FromStr`, `Display` and serde as the word.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> ::std::result::Result<Self, String> {
                match s {
                    $($word => ::std::result::Result::Ok($name::$variant),)+
                    _ => ::std::result::Result::Err(format!(
                        "'{s}' is not one of {}",
                        [$($word),+].join(", ")
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

mod domain;
mod event;
mod host;
mod job;
mod resource;

pub use domain::{BlockStats, DomainInfo, DomainList, DomainState, DomainStats, NetStats, State, StateReason};
pub use event::{Event, EventDetail, EventKind, ObjectKind, ObjectState};
pub use host::{Capabilities, HostInfo, Version};
pub use job::{JobInfo, JobKind};
pub use resource::{Lease, NetworkInfo, NetworkList, PoolInfo, ResourceState, SecretInfo, VolumeInfo};

/// One consistent snapshot of every object of a kind that a list asked for,
/// with the revision it shows: watch from that revision to see every later
/// change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct List<T> {
    pub revision: u64,
    pub items: Vec<T>,
}

impl<T> List<T> {
    pub fn new(revision: u64, items: Vec<T>) -> Self {
        List { revision, items }
    }
}
