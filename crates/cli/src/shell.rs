//! `virtkit shell`: commands from standard input, one line at a time (a
//! line may hold several, separated by ';'). On a terminal: a prompt with
//! line editing and history. The shell goes on after a failed command; its
//! exit status is 1 if any failed.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::commands::{Command, Session, parse_words};
use crate::split::split_commands;

/// What one line asked for.
enum Flow {
    Continue,
    Quit,
}

async fn run_line(session: &mut Session, line: &str, failed: &mut bool) -> Flow {
    let commands = match split_commands(line) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            *failed = true;
            return Flow::Continue;
        }
    };
    for words in commands {
        match parse_words(&words) {
            Ok(Command::Quit) => return Flow::Quit,
            Ok(Command::Shell) => {
                eprintln!("error: already in the shell");
                *failed = true;
            }
            Ok(cmd) => {
                if session.run(cmd).await.is_err() {
                    *failed = true;
                }
            }
            Err(e) => {
                let _ = e.print();
                if e.use_stderr() {
                    *failed = true;
                }
            }
        }
    }
    Flow::Continue
}

pub async fn run(session: &mut Session) -> Result<(), ExitCode> {
    session.enter_shell();
    let mut failed = false;
    if std::io::stdin().is_terminal() {
        interactive(session, &mut failed).await;
    } else {
        while let Some(line) = next_line().await {
            let Ok(line) = line else {
                eprintln!("error: standard input is not text");
                return Err(ExitCode::FAILURE);
            };
            if let Flow::Quit = run_line(session, &line, &mut failed).await {
                break;
            }
        }
    }
    if failed { Err(ExitCode::FAILURE) } else { Ok(()) }
}

/// The next line of standard input (without its line end), read on a
/// thread of its own: while the shell waits for input the runtime keeps
/// running, so the connection answers the daemon's keepalive pings (a
/// shell idle for a minute was dropped).
async fn next_line() -> Option<std::io::Result<String>> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                let end = line.trim_end_matches('\n').trim_end_matches('\r').len();
                line.truncate(end);
                Some(Ok(line))
            }
            Err(e) => Some(Err(e)),
        }
    })
    .await
    .ok()
    .flatten()
}

async fn interactive(session: &mut Session, failed: &mut bool) {
    let mut rl = match rustyline::DefaultEditor::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: no line editor: {e}");
            *failed = true;
            return;
        }
    };
    let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".virtkit_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("Welcome to virtkit. Type 'help' for commands, 'quit' to leave.\n");
    loop {
        // Read on a thread of its own, as next_line.
        let Ok((read, editor)) = tokio::task::spawn_blocking(move || (rl.readline("virtkit # "), rl)).await else {
            return;
        };
        rl = editor;
        match read {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                if let Flow::Quit = run_line(session, &line, failed).await {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
}
