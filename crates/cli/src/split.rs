//! Splits a command string into commands and words, as virsh does:
//! `define a.xml; start a` is two commands. Quotes ('…', "…") and
//! backslashes keep spaces and semicolons inside a word.

/// The commands in `line`, each as its words. Empty commands are skipped.
pub fn split_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => word.push(x),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => word.push(x),
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(x) => word.push(x),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => word.push(x),
                    None => return Err("a trailing backslash escapes nothing".into()),
                }
            }
            ';' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for x in chars.by_ref() {
                    if x == '\n' {
                        break;
                    }
                }
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter().map(|c| c.iter().map(|w| (*w).to_owned()).collect()).collect()
    }

    #[test]
    fn commands_and_words() {
        assert_eq!(
            split_commands("define a.xml; start a;list --all").unwrap(),
            s(&[&["define", "a.xml"], &["start", "a"], &["list", "--all"]])
        );
        assert_eq!(split_commands("  ;; ").unwrap(), s(&[]));
        assert_eq!(
            split_commands("start 'my vm'; x \"a;b\" c\\ d").unwrap(),
            s(&[&["start", "my vm"], &["x", "a;b", "c d"]])
        );
        assert_eq!(split_commands("list # comment; not a command").unwrap(), s(&[&["list"]]));
        assert_eq!(split_commands("a ''").unwrap(), s(&[&["a", ""]]));
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_commands("start 'a").is_err());
        assert!(split_commands("start \"a").is_err());
        assert!(split_commands("start a\\").is_err());
    }
}
