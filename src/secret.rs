//! Component secrets: where they come from and which ones we accept.
//!
//! A secret never comes from argv (every local user can read it in `ps`),
//! and never appears in our messages or logs.

use std::io::{IsTerminal, Read};
use std::path::Path;

/// Checks a secret before it is written. Control characters are refused:
/// a newline or NUL in a secret is almost always a copy-paste accident, and
/// the Fogbow component reads its password from a one-line properties value.
pub fn validate(secret: &[u8]) -> Result<(), String> {
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    if let Some(i) = secret.iter().position(|&c| c < 0x20 || c == 0x7f) {
        let what = match secret[i] {
            0 => "a NUL byte".to_string(),
            b'\n' => "a newline".to_string(),
            b'\r' => "a carriage return".to_string(),
            b'\t' => "a tab".to_string(),
            c => format!("the control byte 0x{c:02x}"),
        };
        return Err(format!(
            "the secret contains {what} (at byte {}); secrets must be printable text",
            i + 1
        ));
    }
    Ok(())
}

/// Reads a secret file (`-` = standard input), stripping one trailing LF or CRLF.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (run with sudo?)"
            } else {
                ""
            };
            format!(
                "cannot read the secret file {}: {}{hint}",
                path.display(),
                plain_io(&e)
            )
        })?;
    }
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    Ok(bytes)
}

/// A new random secret: 160 bits from the OS RNG, as 40 lowercase hex digits
/// (hex needs no escaping in Lua, in a properties file or in a shell).
pub fn generate() -> Result<Vec<u8>, String> {
    let mut raw = [0u8; 20];
    getrandom::fill(&mut raw)
        .map_err(|e| format!("cannot read the system's random generator: {e}"))?;
    Ok(raw
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes())
}

/// Asks twice on the terminal, without echo.
pub fn prompt(name: &str) -> Result<Vec<u8>, String> {
    if !std::io::stdin().is_terminal() {
        return Err("no secret given: use --secret-file PATH (or - for standard input) or --generate-secret".into());
    }
    let first = rpassword::prompt_password(format!("Secret for {name}: "))
        .map_err(|e| format!("cannot read the secret: {e}"))?;
    let second = rpassword::prompt_password("Repeat the secret: ")
        .map_err(|e| format!("cannot read the secret: {e}"))?;
    if first != second {
        return Err("the two secrets differ; nothing was changed".into());
    }
    Ok(first.into_bytes())
}

/// An io::Error's message without Rust's "(os error N)" suffix.
pub fn plain_io(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate(b"p\"w\\d]]--[=[%s\xc3\xa9").is_ok());
        for (bad, why) in [
            (&b""[..], "empty"),
            (b"a\nb", "newline"),
            (b"a\0b", "NUL"),
            (b"a\x1bb", "0x1b"),
            (b"a\rb", "carriage return"),
        ] {
            assert!(validate(bad).unwrap_err().contains(why));
        }
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn secret_file_strips_one_line_ending() {
        let dir = std::env::temp_dir().join(format!("fxc-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (content, want) in [
            (&b"abc\n"[..], &b"abc"[..]),
            (b"abc\r\n", b"abc"),
            (b"abc\n\n", b"abc\n"),
            (b"abc", b"abc"),
        ] {
            let f = dir.join("s");
            std::fs::write(&f, content).unwrap();
            assert_eq!(read_file(&f).unwrap(), want);
        }
        let e = read_file(&dir.join("missing")).unwrap_err();
        assert!(e.contains("missing") && e.contains("No such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
