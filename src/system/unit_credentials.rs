//! Which credentials prosody.service gets: what systemd would put in its
//! `$CREDENTIALS_DIRECTORY` at the next start, read from the unit file and
//! its drop-ins (ours, [`super::credentials::DROP_IN`], among them).
//!
//! `check` run outside the unit (by root, by hand) needs this to judge a
//! `Credential("NAME")` as prosody will see it: a name the unit does not
//! load makes prosody fail at start; one it loads is decrypted (root only)
//! into memory and shown to prosody's loader from there. The files are read
//! rather than `systemctl show`: that works without systemd running (a
//! container, a chroot) and sees a drop-in written before `daemon-reload`,
//! which is what the next start will use.

use std::path::{Path, PathBuf};

// `ImportCredential=` globs are fnmatch's `*` and `?`: prosody's glob.
use crate::prosody::config::glob_match;

/// The unit whose credentials prosody reads.
pub(crate) const SERVICE: &str = "prosody.service";

/// Where systemd puts a system service's credentials: prosody's
/// `$CREDENTIALS_DIRECTORY` in the unit.
pub(crate) const RUNTIME_DIR: &str = "/run/credentials/prosody.service";

/// systemd's unit search path for the system manager, highest priority
/// first (systemd.unit(5)); `/lib/systemd/system` for hosts without merged /usr.
const UNIT_PATH: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
];

/// Where `LoadCredential=ID` (no absolute path) looks, in order
/// (systemd.exec(5)); `LoadCredentialEncrypted=` looks in the
/// `.encrypted` stores first.
const CREDSTORE: &[&str] = &[
    "/etc/credstore",
    "/run/credstore",
    "/usr/local/lib/credstore",
    "/usr/lib/credstore",
];

/// One credential the unit names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `LoadCredentialEncrypted=ID[:PATH]`: systemd decrypts the file.
    Encrypted(Option<PathBuf>),
    /// `LoadCredential=ID[:PATH]`: systemd copies the file.
    Plain(Option<PathBuf>),
    /// `SetCredential=ID:VALUE`: the value is in the unit itself.
    Set(Vec<u8>),
    /// `SetCredentialEncrypted=ID:…`: ciphertext in the unit itself.
    SetEncrypted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) source: Source,
}

/// The credential directives of prosody.service and its drop-ins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceCredentials {
    /// The unit file and the drop-ins read, in the order systemd applies them.
    pub(crate) files: Vec<PathBuf>,
    /// `LoadCredential*=` entries (a later one of a name replaces it).
    pub(crate) load: Vec<Entry>,
    /// `SetCredential*=` entries: used when no `LoadCredential*=` of the
    /// name gives one.
    pub(crate) set: Vec<Entry>,
    /// `ImportCredential=` globs: any name they match may come from there.
    pub(crate) import: Vec<String>,
}

/// What the unit says about credential `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup<'u> {
    Loaded(&'u Source),
    /// Not named, but an `ImportCredential=` glob matches it.
    Imported(&'u str),
    /// The unit gives prosody no credential of that name.
    Absent,
}

impl ServiceCredentials {
    pub(crate) fn lookup(&self, name: &str) -> Lookup<'_> {
        fn last<'v>(v: &'v [Entry], name: &str) -> Option<&'v Source> {
            v.iter().rev().find(|e| e.name == name).map(|e| &e.source)
        }
        // systemd.exec(5): SetCredential= is the fallback of a LoadCredential= of the same ID.
        if let Some(s) = last(&self.load, name).or_else(|| last(&self.set, name)) {
            return Lookup::Loaded(s);
        }
        match self
            .import
            .iter()
            .find(|g| glob_match(g.as_bytes(), name.as_bytes()))
        {
            Some(g) => Lookup::Imported(g),
            None => Lookup::Absent,
        }
    }

    /// The unit file, for messages.
    pub(crate) fn unit(&self) -> &Path {
        self.files
            .first()
            .map_or(Path::new(SERVICE), |p| p.as_path())
    }

    /// Applies the `[Service]` credential directives of one unit file or
    /// drop-in, as systemd does: an empty assignment resets its list.
    pub(crate) fn parse(&mut self, text: &str) {
        let lines = logical_lines(text);
        let mut in_service = false;
        for line in &lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service {
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                self.apply(key.trim(), &unquote(value.trim()));
            }
        }
    }

    /// Applies one `[Service]` directive `key=value` (the value unquoted);
    /// any key but the credential ones is not ours and changes nothing.
    fn apply(&mut self, key: &str, value: &str) {
        let split = |v: &str| match v.split_once(':') {
            Some((n, p)) => (n.to_string(), (!p.is_empty()).then(|| PathBuf::from(p))),
            None => (v.to_string(), None),
        };
        match key {
            // systemd keeps both Load lists in one table, and both Set lists in another.
            "LoadCredential" | "LoadCredentialEncrypted" if value.is_empty() => self.load.clear(),
            "SetCredential" | "SetCredentialEncrypted" if value.is_empty() => self.set.clear(),
            "ImportCredential" if value.is_empty() => self.import.clear(),
            "LoadCredentialEncrypted" => {
                let (name, path) = split(value);
                self.load.push(Entry {
                    name,
                    source: Source::Encrypted(path),
                });
            }
            "LoadCredential" => {
                let (name, path) = split(value);
                self.load.push(Entry {
                    name,
                    source: Source::Plain(path),
                });
            }
            "SetCredential" => {
                if let Some((name, v)) = value.split_once(':') {
                    self.set.push(Entry {
                        name: name.to_string(),
                        source: Source::Set(unescape(v)),
                    });
                }
            }
            "SetCredentialEncrypted" => {
                if let Some((name, _)) = value.split_once(':') {
                    self.set.push(Entry {
                        name: name.to_string(),
                        source: Source::SetEncrypted,
                    });
                }
            }
            "ImportCredential" => self.import.push(value.to_string()),
            _ => {}
        }
    }
}

/// The logical lines of a unit file: a line ending in a backslash
/// continues on the next (joined with a space).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut logical = String::new();
    for raw in text.lines() {
        match raw.strip_suffix('\\') {
            Some(head) => {
                logical.push_str(head);
                logical.push(' ');
            }
            None => {
                logical.push_str(raw);
                lines.push(std::mem::take(&mut logical));
            }
        }
    }
    lines.push(logical);
    lines
}

/// The unit search path: `$SYSTEMD_UNIT_PATH` as systemd reads it (a
/// colon-separated list; a trailing `:` appends the default path), else
/// the default.
pub(crate) fn unit_path() -> Vec<PathBuf> {
    let default = || UNIT_PATH.iter().map(PathBuf::from);
    match std::env::var_os("SYSTEMD_UNIT_PATH") {
        None => default().collect(),
        Some(v) => {
            let v = v.to_string_lossy().into_owned();
            let mut out: Vec<PathBuf> = v
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
            if v.ends_with(':') {
                out.extend(default());
            }
            out
        }
    }
}

/// The credentials prosody.service gets at its next start, from its unit
/// file and drop-ins on `unit_path`; `None` when there is no such unit (or
/// it is masked): then nothing says which credentials prosody gets.
pub(crate) fn service_credentials(unit_path: &[PathBuf]) -> Option<ServiceCredentials> {
    let unit = unit_path
        .iter()
        .map(|d| d.join(SERVICE))
        .find(|p| std::fs::symlink_metadata(p).is_ok())?;
    // A unit linked to /dev/null is masked: it does not start at all.
    if std::fs::canonicalize(&unit).is_ok_and(|p| p == Path::new("/dev/null")) {
        return None;
    }
    let text = std::fs::read_to_string(&unit).ok()?;
    let mut out = ServiceCredentials::default();
    out.files.push(unit);
    out.parse(&text);
    // Drop-ins: every `prosody.service.d/*.conf`, one per file name (the
    // directory of highest priority wins), applied in file-name order.
    let mut drop_ins: Vec<(std::ffi::OsString, PathBuf)> = Vec::new();
    // The unit's own drop-in directories, then the ones for every service
    // (`service.d/`, systemd 245+), each in unit-path priority order.
    let dirs: Vec<PathBuf> = unit_path
        .iter()
        .map(|d| d.join(format!("{SERVICE}.d")))
        .chain(unit_path.iter().map(|d| d.join("service.d")))
        .collect();
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().ends_with(".conf")
                || drop_ins.iter().any(|(n, _)| *n == name)
            {
                continue;
            }
            drop_ins.push((name, e.path()));
        }
    }
    drop_ins.sort();
    for (_, path) in drop_ins {
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.parse(&text);
            out.files.push(path);
        }
    }
    Some(out)
}

/// The credentials the service manager received (from a container
/// manager or a VM), which `LoadCredential=ID` without a path reads first.
pub(crate) const SYSTEM_CREDENTIALS: &str = "/run/credentials/@system";

/// The file systemd reads for a `LoadCredential*=` entry of `name`: the
/// absolute path given, or the first found in the credential stores.
/// `None`: nothing there (systemd would then fail to start the service).
pub(crate) fn source_file(name: &str, source: &Source) -> Option<PathBuf> {
    let (path, encrypted) = match source {
        Source::Encrypted(p) => (p, true),
        Source::Plain(p) => (p, false),
        _ => return None,
    };
    if let Some(p) = path.as_ref().filter(|p| p.is_absolute()) {
        return Some(p.clone());
    }
    // An ID alone: first among the credentials the service manager itself
    // was given (a container's or a VM's), as systemd.exec(5) says.
    if path.is_none() {
        let system = Path::new(SYSTEM_CREDENTIALS).join(name);
        if std::fs::symlink_metadata(&system).is_ok() {
            return Some(system);
        }
    }
    // An ID alone, or a relative path: searched in the stores.
    let rel = path.clone().unwrap_or_else(|| PathBuf::from(name));
    let stores = CREDSTORE.iter().map(|s| format!("{s}.encrypted"));
    let stores: Vec<String> = match encrypted {
        true => stores
            .chain(CREDSTORE.iter().map(|s| s.to_string()))
            .collect(),
        false => CREDSTORE.iter().map(|s| s.to_string()).collect(),
    };
    stores
        .iter()
        .map(|s| Path::new(s).join(&rel))
        // A store we may not read (/etc/credstore is root's) may hold it.
        .find(
            |p| !matches!(std::fs::metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound),
        )
}

/// A value of a unit file without its surrounding double quotes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.to_string(),
        None => v.to_string(),
    }
}

/// `SetCredential=`'s C-style escapes (`\n`, `\t`, `\\`, `\xNN`).
fn unescape(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'x' if i + 2 <= b.len() => {
                match std::str::from_utf8(&b[i..i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.extend_from_slice(b"\\x"),
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_as_systemd_applies_them() {
        let mut c = ServiceCredentials::default();
        c.parse(
            "[Unit]\nLoadCredential=not-service:/x\n[Service]\n\
             # LoadCredential=comment:/x\n\
             LoadCredentialEncrypted=a:/etc/a.cred\n\
             LoadCredential=b\nSetCredential=b:fallback\\n\nSetCredential=c:v\\x41\n\
             ImportCredential=imp.*\n",
        );
        assert_eq!(
            c.lookup("a"),
            Lookup::Loaded(&Source::Encrypted(Some("/etc/a.cred".into())))
        );
        assert_eq!(c.lookup("b"), Lookup::Loaded(&Source::Plain(None)));
        assert_eq!(c.lookup("c"), Lookup::Loaded(&Source::Set(b"vA".to_vec())));
        assert_eq!(c.lookup("imp.x"), Lookup::Imported("imp.*"));
        assert_eq!(c.lookup("not-service"), Lookup::Absent);
        assert_eq!(c.lookup("comment"), Lookup::Absent);
        // An empty assignment resets the Load list (both kinds), not Set.
        c.parse("[Service]\nLoadCredential=\nLoadCredentialEncrypted=d:/d \\\n");
        assert_eq!(c.lookup("a"), Lookup::Absent);
        assert_eq!(
            c.lookup("b"),
            Lookup::Loaded(&Source::Set(b"fallback\n".to_vec()))
        );
        assert_eq!(
            c.lookup("d"),
            Lookup::Loaded(&Source::Encrypted(Some("/d".into())))
        );
    }

    #[test]
    fn unit_and_drop_ins_in_priority_and_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        let lib = tmp.path().join("lib");
        let w = |p: PathBuf, t: &str| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        let path = vec![etc.clone(), lib.clone()];
        assert_eq!(service_credentials(&path), None, "no unit");
        w(
            lib.join(SERVICE),
            "[Service]\nExecStart=/usr/bin/prosody -F\n",
        );
        w(
            lib.join("prosody.service.d/10-a.conf"),
            "[Service]\nLoadCredentialEncrypted=a:/lib-a\n",
        );
        w(
            etc.join("prosody.service.d/10-a.conf"),
            "[Service]\nLoadCredentialEncrypted=a:/etc-a\n",
        );
        w(
            lib.join("prosody.service.d/20-reset.conf"),
            "[Service]\nLoadCredentialEncrypted=\nLoadCredential=b:/b\n",
        );
        w(
            etc.join("prosody.service.d/30-c.conf"),
            "[Service]\nLoadCredentialEncrypted=c:/c\n",
        );
        w(
            etc.join("prosody.service.d/40-x.txt"),
            "[Service]\nLoadCredentialEncrypted=x:/x\n",
        );
        let c = service_credentials(&path).unwrap();
        assert_eq!(c.unit(), lib.join(SERVICE));
        // 10-a (etc's copy) is reset by 20-reset; then b, c; not the .txt.
        assert_eq!(c.lookup("a"), Lookup::Absent);
        assert_eq!(
            c.lookup("b"),
            Lookup::Loaded(&Source::Plain(Some("/b".into())))
        );
        assert_eq!(
            c.lookup("c"),
            Lookup::Loaded(&Source::Encrypted(Some("/c".into())))
        );
        assert_eq!(c.lookup("x"), Lookup::Absent);
        assert_eq!(c.files.len(), 4, "{:?}", c.files);
        assert!(c.files.contains(&etc.join("prosody.service.d/10-a.conf")));
        // A drop-in for every service (`service.d/`) counts too, in name
        // order with the unit's own; a unit's own of that name wins.
        w(
            etc.join("service.d/50-all.conf"),
            "[Service]\nLoadCredentialEncrypted=d:/d\n",
        );
        w(
            lib.join("service.d/30-c.conf"),
            "[Service]\nLoadCredentialEncrypted=c:/not-c\n",
        );
        let c = service_credentials(&path).unwrap();
        assert_eq!(
            c.lookup("d"),
            Lookup::Loaded(&Source::Encrypted(Some("/d".into())))
        );
        assert_eq!(
            c.lookup("c"),
            Lookup::Loaded(&Source::Encrypted(Some("/c".into())))
        );
        // Masked: no unit.
        std::os::unix::fs::symlink("/dev/null", etc.join(SERVICE)).unwrap();
        assert_eq!(service_credentials(&path), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"a.*", b"a.b.c"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"*", b""));
    }
}
