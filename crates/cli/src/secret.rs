//! virsh's secret-* commands. Define, undefine, list and dumpxml are the
//! verbs every kind shares ([`crate::objects::common`]); setting and
//! reading a value are secrets' own.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Subcommand;
use virtkit::{Connection, ListOptions, ObjectKind};

use crate::commands::Failure;
use crate::objects::{Common, common};

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret's definition from an XML file (create or update).
    Define { file: PathBuf },
    /// Remove a secret and its value.
    Undefine { secret: String },
    /// List the secrets: every one, or those --ephemeral, --private … (both of a pair: either).
    List {
        #[arg(long)]
        ephemeral: bool,
        #[arg(long)]
        no_ephemeral: bool,
        #[arg(long)]
        private: bool,
        #[arg(long)]
        no_private: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a secret's definition as XML.
    Dumpxml { secret: String },
    /// Set a secret's value: base64 (--base64, or the second word) or a file's content.
    #[command(name = "set-value")]
    SetValue {
        secret: String,
        #[arg(value_name = "BASE64", conflicts_with_all = ["base64", "file"])]
        value: Option<String>,
        #[arg(long, value_name = "BASE64", conflicts_with = "file")]
        base64: Option<String>,
        /// Read the value from a file: base64, or with --plain the bytes as they are.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long, requires = "file")]
        plain: bool,
    },
    /// Print a secret's value as base64 (--plain: the bytes as they are).
    #[command(name = "get-value")]
    GetValue {
        secret: String,
        #[arg(long)]
        plain: bool,
    },
}

fn decode(text: &str) -> Result<Vec<u8>, Failure> {
    STANDARD.decode(text.trim()).map_err(|e| Failure::Message(format!("the value is not base64: {e}")))
}

/// The value a `secret-set-value` names.
fn value_of(
    value: Option<String>,
    base64: Option<String>,
    file: Option<PathBuf>,
    plain: bool,
) -> Result<Vec<u8>, Failure> {
    if let Some(f) = file {
        let bytes = std::fs::read(&f).map_err(|e| Failure::Message(format!("{}: {e}", f.display())))?;
        if plain {
            return Ok(bytes);
        }
        return decode(&String::from_utf8_lossy(&bytes));
    }
    match value.or(base64) {
        Some(b) => decode(&b),
        None => Err(Failure::Message("no value: give --base64 or --file".into())),
    }
}

pub async fn secret(conn: &Connection, cmd: SecretCommand) -> Result<(), Failure> {
    let kind = ObjectKind::Secret;
    match cmd {
        SecretCommand::Define { file } => common(conn, kind, Common::Define { file, expected_generation: None }).await,
        SecretCommand::Undefine { secret } => common(conn, kind, Common::Undefine { name: secret }).await,
        SecretCommand::List { ephemeral, no_ephemeral, private, no_private, json } => {
            let mut opts = ListOptions::default();
            // As libvirt: a flag and its negation together select either.
            if ephemeral != no_ephemeral {
                opts = opts.ephemeral(ephemeral);
            }
            if private != no_private {
                opts = opts.private(private);
            }
            crate::objects::list(conn, kind, opts, json).await
        }
        SecretCommand::Dumpxml { secret } => {
            common(conn, kind, Common::Dumpxml { name: secret, inactive: false }).await
        }
        SecretCommand::SetValue { secret, value, base64, file, plain } => {
            let bytes = value_of(value, base64, file, plain)?;
            conn.lookup_secret(&secret).await?.set_value(&bytes, Default::default()).await?;
            println!("Secret value set");
            Ok(())
        }
        SecretCommand::GetValue { secret, plain } => {
            let v = conn.lookup_secret(&secret).await?.value(Default::default()).await?;
            if plain {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(&v).and_then(|()| out.flush()).map_err(|e| Failure::Message(format!("stdout: {e}")))
            } else {
                println!("{}", STANDARD.encode(&v));
                Ok(())
            }
        }
    }
}
