//! `virtkit`: the command-line client. It talks only to the public
//! `virtkit` crate.
//!
//! `virtkit [-c URI] COMMAND [ARGS]` runs one command;
//! `virtkit [-c URI] 'CMD1 ARGS; CMD2 ARGS'` runs several, stopping at the
//! first that fails; `virtkit [-c URI] shell` reads commands from standard
//! input. Errors are one line on standard error; the exit status is 1 for a
//! failed command and 2 for a usage error.

mod commands;
mod console;
mod create_as;
mod net_update;
mod objects;
mod output;
mod progress;
mod proxy;
mod secret;
mod shell;
mod split;
mod validate;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::commands::{Command, Session};

/// Options before the command.
#[derive(Debug, Parser)]
#[command(
    name = "virtkit",
    version,
    about = "Manage virtual machines and containers",
    after_help = "Several commands may be given in one argument, separated by ';':\n  virtkit -c test:///default 'define a.xml; start a; list --all'"
)]
pub struct Cli {
    /// Connection URI (default: $VIRTKIT_DEFAULT_URI, else qemu:///system).
    #[arg(short = 'c', long = "connect", value_name = "URI", global = true)]
    connect: Option<String>,
    /// Open the connection read-only.
    #[arg(short = 'r', long = "readonly", global = true)]
    readonly: bool,
    #[command(subcommand)]
    command: Command,
}

/// Only the global options, for a command string.
#[derive(Debug, Parser)]
#[command(name = "virtkit", version)]
struct Globals {
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    connect: Option<String>,
    #[arg(short = 'r', long = "readonly")]
    readonly: bool,
    /// Commands separated by ';'.
    commands: String,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if is_command_string(&args) {
        let g = match Globals::try_parse_from(&args) {
            Ok(g) => g,
            Err(e) => return usage(e),
        };
        let commands = match split::split_commands(&g.commands) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let mut session = Session::new(g.connect, g.readonly);
        return runtime.block_on(async {
            for words in commands {
                let cmd = match commands::parse_words(&words) {
                    Ok(c) => c,
                    Err(e) => return usage(e),
                };
                if let Err(code) = session.run(cmd).await {
                    return code;
                }
            }
            ExitCode::SUCCESS
        });
    }
    let cli = match Cli::try_parse_from(objects::split_prefixed_args(args)) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let mut session = Session::new(cli.connect, cli.readonly);
    runtime.block_on(async {
        match session.run(cli.command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        }
    })
}

/// Whether the arguments after the global options are one word holding
/// a command string (`'define a.xml; start a'`) rather than one command.
fn is_command_string(args: &[OsString]) -> bool {
    let mut rest = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        match a.as_ref() {
            "-c" | "--connect" => i += 2,
            "-r" | "--readonly" => i += 1,
            s if s.starts_with("--connect=") || (s.starts_with("-c") && s.len() > 2) => i += 1,
            _ => {
                rest.push(a.into_owned());
                i += 1;
            }
        }
    }
    rest.len() == 1 && rest[0].contains([';', ' ', '\t', '\n'])
}

/// Prints a clap error or help text; usage errors exit 2, help 0.
fn usage(e: clap::Error) -> ExitCode {
    let code = if e.use_stderr() { 2 } else { 0 };
    let _ = e.print();
    ExitCode::from(code)
}
