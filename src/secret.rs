//! Component secrets: where they come from and which ones we accept.
//!
//! A secret never comes from argv (every local user can read it in `ps`),
//! and never appears in our messages or logs.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::libc;

use crate::text::plain_io;

/// The longest secret we write. A Fogbow secret is 40 hex digits; 1024
/// bytes leaves room for any passphrase and bounds what a stray
/// `--secret-file /dev/stdin < big-file` can make us read and write.
pub(crate) const MAX_SECRET: usize = 1024;

/// A UTF-8 byte order mark, which editors on other systems put first.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Checks a secret before it is written. Control characters are refused:
/// a newline or NUL in a secret is almost always a copy-paste accident, and
/// the Fogbow component reads its password from a one-line properties value.
pub(crate) fn validate(secret: &[u8]) -> Result<(), SecretError> {
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    if secret.len() > MAX_SECRET {
        return Err(SecretError::TooLong { len: secret.len() });
    }
    if let Some(i) = secret.iter().position(|&c| c < 0x20 || c == 0x7f) {
        return Err(SecretError::Control {
            byte: secret[i],
            at: i + 1,
        });
    }
    Ok(())
}

/// Why a secret is not accepted, or was not read. No variant holds the
/// secret, nor the name of a missing secret file (it may be a secret typed
/// in the wrong place).
#[derive(Debug)]
pub enum SecretError {
    Empty,
    /// Longer than `MAX_SECRET`: `len` bytes.
    TooLong {
        len: usize,
    },
    /// The control byte `byte` at the 1-based position `at`.
    Control {
        byte: u8,
        at: usize,
    },
    /// Standard input could not be read.
    Stdin(std::io::Error),
    /// The secret file is longer than `MAX_SECRET` (a trailing newline aside).
    FileTooLong,
    /// The file given to `--secret-file` does not exist.
    FileMissing,
    /// The secret file cannot be read (not missing, not too long).
    File(ReadError),
    /// The secret starts with a UTF-8 byte order mark.
    Bom,
    /// The system's random generator could not be read.
    Random(getrandom::Error),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Empty => f.write_str("the secret is empty"),
            SecretError::TooLong { len } => write!(
                f,
                "the secret is longer than {MAX_SECRET} bytes ({len} bytes); use a shorter one, e.g. --generate-secret"
            ),
            SecretError::Control { byte, at } => {
                let what = match byte {
                    0 => "a NUL byte".to_string(),
                    b'\n' => "a newline".to_string(),
                    b'\r' => "a carriage return".to_string(),
                    b'\t' => "a tab".to_string(),
                    c => format!("the control byte 0x{c:02x}"),
                };
                write!(
                    f,
                    "the secret contains {what} (at byte {at}); secrets must be printable text"
                )
            }
            SecretError::Stdin(e) => write!(
                f,
                "cannot read the secret from standard input: {}",
                plain_io(e)
            ),
            SecretError::FileTooLong => write!(
                f,
                "the secret is longer than {MAX_SECRET} bytes (one trailing newline aside); nothing was changed"
            ),
            SecretError::FileMissing => f.write_str("the file given to --secret-file does not exist (its name is not repeated, in case a secret was typed there: to type a secret, use --secret-file - or the prompt)"),
            SecretError::File(e) => std::fmt::Display::fmt(e, f),
            SecretError::Random(e) => {
                write!(f, "cannot read the system's random generator: {e}")
            }
            SecretError::Bom => f.write_str("the secret starts with a UTF-8 byte order mark (EF BB BF), which an editor added: save the file without BOM (e.g. in vim, :set nobomb); nothing was changed"),
        }
    }
}

impl std::error::Error for SecretError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecretError::Stdin(e) => Some(e),
            SecretError::File(e) => Some(e),
            SecretError::Random(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads a secret file (`-` = standard input), stripping one trailing LF or
/// CRLF. Only a regular file (or standard input) is read, and at most
/// `MAX_SECRET` bytes: `/dev/zero` never ends and a FIFO blocks forever.
/// A missing file's name is not repeated: it may be a secret typed by mistake.
pub fn read_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    // The limit and a CRLF, and one byte more to tell "too long".
    let bound = MAX_SECRET as u64 + 2;
    let mut bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(bound + 1)
            .read_to_end(&mut bytes)
            .map_err(SecretError::Stdin)?;
        bytes
    } else {
        read_regular(path, bound, "the secret file").map_err(|e| match e {
            ReadError::TooLarge => SecretError::FileTooLong,
            ReadError::Missing => SecretError::FileMissing,
            e => SecretError::File(e),
        })?
    };
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.len() > MAX_SECRET {
        return Err(SecretError::FileTooLong);
    }
    if bytes.starts_with(BOM) {
        return Err(SecretError::Bom);
    }
    Ok(bytes)
}

/// Why `read_regular` failed. `what` names the file as the caller's
/// messages do ("the secret file").
#[derive(Debug)]
pub enum ReadError {
    /// No such file.
    Missing,
    /// More than the limit.
    TooLarge,
    /// Not a regular file: a FIFO, a device, a directory, …
    NotRegular {
        what: &'static str,
        path: PathBuf,
        kind: std::fs::FileType,
    },
    /// It cannot be read.
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => f.write_str("no such file"),
            ReadError::TooLarge => f.write_str("the file is larger than the limit"),
            ReadError::NotRegular { what, path, kind } => {
                let kind = if kind.is_fifo() {
                    "a FIFO"
                } else if kind.is_char_device() || kind.is_block_device() {
                    "a device"
                } else if kind.is_dir() {
                    "a directory"
                } else if kind.is_socket() {
                    "a socket"
                } else {
                    "not a file"
                };
                write!(
                    f,
                    "{what} {} is {kind}; give a regular file",
                    path.display()
                )
            }
            ReadError::Io { what, path, source } => {
                write!(
                    f,
                    "cannot read {what} {}: {}",
                    path.display(),
                    plain_io(source)
                )?;
                match source.kind() {
                    std::io::ErrorKind::PermissionDenied => f.write_str(" (run with sudo?)"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Reads `path` if it is a regular file of at most `limit` bytes. Anything
/// else is refused before it is read: a FIFO would block us (with the
/// config's lock held), and a device such as `/dev/zero` never ends. The
/// file is opened non-blocking and checked again through its descriptor, so
/// swapping in a FIFO after the first check cannot block us either.
/// `what` names the file in messages ("the secret file").
pub(crate) fn read_regular(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Io {
            what,
            path: path.to_path_buf(),
            source: e,
        },
    };
    let refused = |e: Unreadable| match e {
        Unreadable::Io(e) => io(e),
        Unreadable::TooLarge => ReadError::TooLarge,
        Unreadable::NotRegular(kind) => ReadError::NotRegular {
            what,
            path: path.to_path_buf(),
            kind,
        },
    };
    let t = std::fs::metadata(path).map_err(io)?.file_type();
    if !t.is_file() {
        return Err(refused(Unreadable::NotRegular(t)));
    }
    let mut file = open_nonblocking(path).map_err(io)?;
    regular(&file).map_err(refused)?;
    read_at_most(&mut file, limit).map_err(refused)
}

/// Why a bounded read of a regular file ([`regular`], [`read_at_most`])
/// read nothing; each caller words it.
#[derive(Debug)]
pub(crate) enum Unreadable {
    /// Not a regular file: what it is instead.
    NotRegular(std::fs::FileType),
    /// Longer than the limit.
    TooLarge,
    Io(std::io::Error),
}

/// Opens `path` to read without blocking (opening a FIFO would block until
/// a writer came) and without taking a terminal as ours.
pub(crate) fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// The metadata of `file` if it is a regular file, checked on the open
/// descriptor, so what is checked is what is read: a FIFO would block us
/// (with the config's lock held), and a device such as `/dev/zero` never
/// ends.
pub(crate) fn regular(file: &File) -> Result<std::fs::Metadata, Unreadable> {
    let m = file.metadata().map_err(Unreadable::Io)?;
    match m.file_type().is_file() {
        true => Ok(m),
        false => Err(Unreadable::NotRegular(m.file_type())),
    }
}

/// The rest of `file`, at most `limit` bytes (bounded even if the file
/// grows while it is read); more is [`Unreadable::TooLarge`].
pub(crate) fn read_at_most(file: &mut File, limit: u64) -> Result<Vec<u8>, Unreadable> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Io)?;
    match bytes.len() as u64 > limit {
        true => Err(Unreadable::TooLarge),
        false => Ok(bytes),
    }
}

/// The last `max` bytes of the regular file at `path`, as text from the
/// start of a line (a cut first line is dropped; bytes that are not UTF-8
/// are replaced): logs grow without end, and the recent end is what
/// matters. Opened without blocking and checked on the descriptor, as
/// [`regular`] does.
pub(crate) fn read_tail(path: &Path, max: u64) -> Result<String, Unreadable> {
    use std::io::{Seek, SeekFrom};
    let mut f = open_nonblocking(path).map_err(Unreadable::Io)?;
    let from = regular(&f)?.len().saturating_sub(max);
    f.seek(SeekFrom::Start(from)).map_err(Unreadable::Io)?;
    let mut bytes = Vec::new();
    f.take(max)
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Io)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if from == 0 {
        return Ok(text);
    }
    // The first line is cut: drop it.
    Ok(text
        .split_once('\n')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default())
}

/// Makes this process unable to leave a core dump, which would hold every
/// secret it read: the kernel writes none for a process that is not
/// "dumpable" (which also keeps other users' debuggers out), nor for one
/// whose core size limit is 0. Only the soft limit is lowered, so the
/// programs we run (prosody's loader) keep the right to raise theirs.
pub fn forbid_core_dumps() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let _ = nix::sys::prctl::set_dumpable(false);
    let hard = getrlimit(Resource::RLIMIT_CORE).map_or(0, |(_, hard)| hard);
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, hard);
}

/// A new random secret: 160 bits from the OS RNG, as 40 lowercase hex digits
/// (hex needs no escaping in Lua, in a properties file or in a shell).
pub(crate) fn generate() -> Result<Vec<u8>, SecretError> {
    let mut raw = [0u8; 20];
    getrandom::fill(&mut raw).map_err(SecretError::Random)?;
    Ok(crate::text::hex::encode(&raw).into_bytes())
}

/// Why [`prompt`] has no secret.
#[derive(Debug)]
pub enum PromptError {
    /// No terminal to ask on: the secret was not given at all.
    NoTerminal,
    /// The terminal could not be read.
    Read(std::io::Error),
    /// The two answers differ.
    Differ,
}

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptError::NoTerminal => f.write_str("no secret given: use --secret-file PATH (or - for standard input) or --generate-secret"),
            PromptError::Read(e) => write!(f, "cannot read the secret: {e}"),
            PromptError::Differ => f.write_str("the two secrets differ; nothing was changed"),
        }
    }
}

impl std::error::Error for PromptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PromptError::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// Asks twice on the terminal, without echo. Without a terminal the
/// secret was not given at all: a usage error.
pub fn prompt(name: &str) -> Result<Vec<u8>, PromptError> {
    if !std::io::stdin().is_terminal() {
        return Err(PromptError::NoTerminal);
    }
    let first =
        rpassword::prompt_password(format!("Secret for {name}: ")).map_err(PromptError::Read)?;
    let second = rpassword::prompt_password("Repeat the secret: ").map_err(PromptError::Read)?;
    if first != second {
        return Err(PromptError::Differ);
    }
    Ok(first.into_bytes())
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
            assert!(validate(bad).unwrap_err().to_string().contains(why));
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
        let tmp = tempfile::Builder::new()
            .prefix("fxc-secret-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
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
        // A missing file may be a secret typed in its place: not repeated.
        let e = read_file(&dir.join("hunter2-typed-here"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not exist") && !e.contains("hunter2") && e.contains("--secret-file -"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_bounded_and_bom_free() {
        let tmp = tempfile::Builder::new()
            .prefix("fxc-secret-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let f = dir.join("s");
        let at_limit = vec![b'k'; MAX_SECRET];
        std::fs::write(&f, [&at_limit[..], b"\r\n"].concat()).unwrap();
        assert_eq!(read_file(&f).unwrap(), at_limit);
        assert!(validate(&at_limit).is_ok());
        let over = vec![b'k'; MAX_SECRET + 1];
        for content in [[&over[..], b"\n"].concat(), vec![b'k'; 1 << 20]] {
            std::fs::write(&f, &content).unwrap();
            let e = read_file(&f).unwrap_err().to_string();
            assert!(
                e.contains("longer than 1024 bytes") && !e.contains("kkk"),
                "{e}"
            );
        }
        let e = validate(&over).unwrap_err().to_string();
        assert!(
            e.contains("longer than 1024 bytes") && !e.contains("kkk"),
            "{e}"
        );
        std::fs::write(&f, b"\xef\xbb\xbfsecret-after-bom\n").unwrap();
        let e = read_file(&f).unwrap_err().to_string();
        assert!(
            e.contains("byte order mark") && !e.contains("secret-after"),
            "{e}"
        );
    }

    /// A FIFO would block the open (and the read) forever, a device never
    /// ends: both are refused before a byte is read.
    #[test]
    fn only_regular_files_are_read() {
        let tmp = tempfile::Builder::new()
            .prefix("fxc-secret-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "is a FIFO"),
            (Path::new("/dev/zero"), "is a device"),
            (dir, "is a directory"),
        ] {
            let e = read_file(path).unwrap_err().to_string();
            assert!(e.contains(kind) && e.contains("regular file"), "{e}");
            assert!(matches!(
                read_regular(path, 10, "the file"),
                Err(e @ ReadError::NotRegular { .. }) if e.to_string().contains(kind)
            ));
        }
    }

    /// The process that reads secrets leaves no core dump: checked in a
    /// child (this test binary run again for this test alone), so the test
    /// process keeps its own settings.
    #[test]
    fn core_dumps_are_forbidden() {
        const CHILD: &str = "FXC_TEST_CORE_DUMP_CHILD";
        if std::env::var_os(CHILD).is_some() {
            use nix::sys::resource::{getrlimit, setrlimit, Resource::RLIMIT_CORE};
            // Start from a limit that allows cores (many shells set 0).
            let (_, hard) = getrlimit(RLIMIT_CORE).unwrap();
            setrlimit(RLIMIT_CORE, hard.min(1 << 20), hard).unwrap();
            assert_ne!(getrlimit(RLIMIT_CORE).unwrap().0, 0);
            forbid_core_dumps();
            assert_eq!(getrlimit(RLIMIT_CORE).unwrap(), (0, hard));
            assert!(!nix::sys::prctl::get_dumpable().unwrap());
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "secret::tests::core_dumps_are_forbidden"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn tails_start_at_a_line_and_skip_fifos() {
        let tmp = tempfile::Builder::new()
            .prefix("fxc-tail-")
            .tempdir()
            .unwrap();
        let log = tmp.path().join("log");
        std::fs::write(&log, "a\nbb\ncc\n").unwrap();
        assert_eq!(read_tail(&log, 5).unwrap(), "cc\n");
        assert_eq!(read_tail(&log, 100).unwrap(), "a\nbb\ncc\n");
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            read_tail(&fifo, 5),
            Err(Unreadable::NotRegular(_))
        ));
    }
}
