//! `virtkit validate FILE...`: strict checking of documents of every kind
//! virtkit reads (domain, network, storage pool, storage volume, test node).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use virtkit::model::Document;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Documents to check, of any kind: `<domain>`, `<network>`, `<pool>`,
    /// `<volume>`, `<node>` (`-` reads standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write each document's canonical XML to standard output.
    #[arg(long, conflicts_with = "json")]
    print: bool,
    /// Write each document's JSON encoding to standard output.
    #[arg(long)]
    json: bool,
}

/// Exit status 0 when every file is valid, 1 otherwise. Each problem goes
/// to standard error on its own line as `FILE:LINE:COL: PATH: message`.
pub fn run(args: &Args) -> ExitCode {
    let mut ok = true;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    for file in &args.files {
        let shown = file.display().to_string();
        let text = match read(file) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(stderr.lock(), "{shown}: {e}");
                ok = false;
                continue;
            }
        };
        match Document::from_xml(&text) {
            Ok(doc) => {
                let out = if args.print {
                    Some(doc.to_xml())
                } else if args.json {
                    Some(doc.to_json() + "\n")
                } else {
                    None
                };
                if let Some(out) = out
                    && stdout.lock().write_all(out.as_bytes()).is_err()
                {
                    return ExitCode::FAILURE;
                }
            }
            Err(errors) => {
                ok = false;
                let mut err = stderr.lock();
                for e in &errors {
                    let pos = e.pos.map(|p| format!("{}:{}:", p.line, p.column)).unwrap_or_default();
                    let path = if e.path.is_empty() { String::new() } else { format!(" {}:", e.path) };
                    let _ = writeln!(err, "{shown}:{pos}{path} {}", e.kind);
                }
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Reads a document, refusing one too large before reading it all.
pub fn read(file: &PathBuf) -> Result<String, String> {
    let limit = virtkit::model::limits::MAX_DOCUMENT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    let res = if file.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    res.map_err(|e| format!("cannot read: {}", lower(&e.to_string())))?;
    if buf.len() as u64 >= limit {
        return Err(format!(
            "document is larger than the limit of {} bytes",
            virtkit::model::limits::MAX_DOCUMENT_BYTES
        ));
    }
    String::from_utf8(buf).map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

fn lower(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}
