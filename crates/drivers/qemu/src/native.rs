//! `domxml-to-native qemu-argv`: the command line QEMU would be started
//! with, as a shell would read it (libvirt's layout: the environment, the
//! emulator, then one option and its value per line).

use std::path::Path;

/// `s` as one shell word.
fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=,.:/@+%".contains(&b));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// The environment, emulator and arguments, a line each (an option with
/// its value on one line), continued with backslashes.
pub(crate) fn command_line(env: &[(String, String)], emulator: &Path, args: &[String]) -> String {
    let mut lines: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    lines.push(quote(&emulator.display().to_string()));
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match args.get(i + 1) {
            Some(v) if a.starts_with('-') && !v.starts_with('-') => {
                lines.push(format!("{} {}", quote(a), quote(v)));
                i += 2;
            }
            _ => {
                lines.push(quote(a));
                i += 1;
            }
        }
    }
    let mut out = lines.join(" \\\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_pair_with_their_values_and_are_quoted() {
        let args: Vec<String> =
            ["-name", "guest=a b,debug-threads=on", "-S", "-cpu", "qemu64", "-no-shutdown"].map(str::to_owned).into();
        let env = [("HOME".to_owned(), "/run/x".to_owned()), ("NS".to_owned(), "it's".to_owned())];
        assert_eq!(
            command_line(&env, Path::new("/usr/bin/qemu-system-x86_64"), &args),
            "HOME=/run/x \\\nNS='it'\\''s' \\\n/usr/bin/qemu-system-x86_64 \\\n-name 'guest=a b,debug-threads=on' \\\n-S \\\n-cpu qemu64 \\\n-no-shutdown\n"
        );
    }
}
