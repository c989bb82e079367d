//! Hostile and careless clients of virtkitd: every hole an outside test
//! found (fuzzing, hostile clients, faults) kept as a test, and input no
//! well-behaved client sends, on every entry point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "hostile/errors.rs"]
mod errors;
#[path = "hostile/full_disk.rs"]
mod full_disk;
#[path = "hostile/fuzz.rs"]
mod fuzz;
#[path = "hostile/limits.rs"]
mod limits;
#[path = "hostile/logs.rs"]
mod logs;
#[path = "hostile/parse.rs"]
mod parse;
#[path = "hostile/races.rs"]
mod races;
#[path = "hostile/secrets.rs"]
mod secrets;
#[path = "hostile/stock_client.rs"]
mod stock_client;
