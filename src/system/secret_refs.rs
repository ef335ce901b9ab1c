//! The secrets behind prosody 13's config helpers: `Credential("NAME")`
//! (the file NAME of the unit's `$CREDENTIALS_DIRECTORY`), `FileContents`
//! and `FileLine` (a file, relative to the directory of the config file
//! that names it). `check`, `doctor` and `probe` read them here, as prosody
//! will at start; the rules that judge what is read (never showing it) are
//! [`crate::diagnostics::secret_refs`].
//!
//! Where the value comes from depends on where we run:
//! - in the unit (`ExecStartPre=`/`ExecReload=` of prosody.service, run
//!   with `$CREDENTIALS_DIRECTORY` set by systemd): that directory, as
//!   prosody's own start-up reads it;
//! - outside it: what prosody.service would load at its next start (its
//!   unit file and drop-ins, see [`crate::system::unit_credentials`]),
//!   decrypted by `systemd-creds` into memory (root only: the host key is
//!   root's). A name the unit does not load makes prosody fail at start:
//!   an error. One that cannot be decrypted here is not known to be wrong:
//!   a warning, as `prosodyctl check` gives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostics::secret_refs::{Resolve, Resolved};
use crate::document::{SecretRef, SecretRefKind};
use crate::system::unit_credentials::{self, Lookup, ServiceCredentials, Source};

/// How much of a file behind a reference is read: a secret is short, and
/// a path to `/dev/zero` must not make us read forever.
const MAX_READ: u64 = 1 << 20;

/// Reads references, with what it learnt (the unit, decrypted values)
/// kept for the rest of the run: one `systemd-creds` per credential.
pub(crate) struct Resolver {
    /// `$CREDENTIALS_DIRECTORY`: we run in the unit.
    env_dir: Option<PathBuf>,
    unit_path: Vec<PathBuf>,
    service: Option<Option<ServiceCredentials>>,
    root: bool,
    credentials: HashMap<String, Resolved>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("env_dir", &self.env_dir)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::from_env()
    }
}

impl Resolver {
    /// As the environment says: in the unit when `$CREDENTIALS_DIRECTORY`
    /// is set (as prosody's start-up decides), else outside it, with the
    /// unit found on systemd's unit path (`$SYSTEMD_UNIT_PATH` honoured).
    pub(crate) fn from_env() -> Resolver {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        // systemd (257, measured) sets $CREDENTIALS_DIRECTORY for the start
        // commands but not for ExecReload=: there (MAINPID and INVOCATION_ID
        // set: a command of a running service) the running prosody's own
        // directory is what its reload reads, and its user may read it.
        let reloading = env("MAINPID").is_some()
            && env("INVOCATION_ID").is_some()
            && std::fs::read_dir(unit_credentials::RUNTIME_DIR).is_ok();
        Resolver {
            env_dir: env("CREDENTIALS_DIRECTORY")
                .map(PathBuf::from)
                .or_else(|| reloading.then(|| unit_credentials::RUNTIME_DIR.into())),
            unit_path: unit_credentials::unit_path(),
            service: None,
            root: nix::unistd::geteuid().is_root(),
            credentials: HashMap::new(),
        }
    }

    /// Whether we run in the unit (systemd gave us its credentials).
    pub(crate) fn in_unit(&self) -> bool {
        self.env_dir.is_some()
    }

    /// The unit's credentials directory, when we run in the unit.
    pub(crate) fn unit_dir(&self) -> Option<&Path> {
        self.env_dir.as_deref()
    }

    fn service(&mut self) -> Option<&ServiceCredentials> {
        let path = &self.unit_path;
        self.service
            .get_or_insert_with(|| unit_credentials::service_credentials(path))
            .as_ref()
    }

    /// The value behind `r`, named in the config file `file`.
    pub(crate) fn resolve(&mut self, r: &SecretRef, file: &Path) -> Resolved {
        let arg = String::from_utf8_lossy(&r.arg).into_owned();
        match r.kind {
            // An absolute name is a path to prosody (resolve_relative_path).
            SecretRefKind::Credential if arg.starts_with('/') => read_file(Path::new(&arg), false),
            SecretRefKind::Credential => self.credential(&arg),
            SecretRefKind::FileContents | SecretRefKind::FileLine => {
                let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
                let path = dir.unwrap_or(Path::new(".")).join(&arg);
                read_file(&path, r.kind == SecretRefKind::FileLine)
            }
            SecretRefKind::FileLines => {
                Resolved::Unverified("FileLines() gives a list of lines, not a string".into())
            }
        }
    }

    /// Credential `name`, as prosody will read it.
    pub(crate) fn credential(&mut self, name: &str) -> Resolved {
        if let Some(r) = self.credentials.get(name) {
            return r.clone();
        }
        let r = self.credential_uncached(name);
        self.credentials.insert(name.to_string(), r.clone());
        r
    }

    fn credential_uncached(&mut self, name: &str) -> Resolved {
        if let Some(dir) = &self.env_dir {
            return match read_file(&dir.join(name), false) {
                Resolved::Missing(_) | Resolved::Unverified(_) => Resolved::Missing(format!(
                    "prosody.service gives prosody no credential {name:?} (not in $CREDENTIALS_DIRECTORY, {}): add a LoadCredentialEncrypted={name}:PATH line for it",
                    dir.display()
                )),
                v => v,
            };
        }
        let root = self.root;
        let Some(service) = self.service() else {
            return Resolved::Unverified(format!(
                "no {} unit here says which credentials prosody gets, so Credential({name:?}) cannot be read",
                unit_credentials::SERVICE
            ));
        };
        let unit = service.unit().display().to_string();
        match service.lookup(name) {
            Lookup::Absent => Resolved::Missing(format!(
                "{} does not load a credential {name:?} ({unit} and its drop-ins have no LoadCredentialEncrypted=, LoadCredential= or SetCredential= for it): prosody will fail to start",
                unit_credentials::SERVICE
            )),
            Lookup::Imported(glob) => Resolved::Unverified(format!(
                "the credential {name:?} may come from ImportCredential={glob}, which is not read here"
            )),
            Lookup::Loaded(Source::Set(v)) => Resolved::Value(v.clone()),
            Lookup::Loaded(Source::SetEncrypted) => Resolved::Unverified(format!(
                "the credential {name:?} is a SetCredentialEncrypted= value, which is not read here"
            )),
            Lookup::Loaded(source) => loaded_from_file(&unit, name, source, root),
        }
    }

    /// The credentials prosody.service would give prosody, for prosody's
    /// loader to read from memory (see
    /// [`super::loader::Installed::start_serving`]): `None` in the unit
    /// (the loader reads `$CREDENTIALS_DIRECTORY` itself), with no unit,
    /// or when one of them cannot be read here (then the loader only warns
    /// about a `Credential()`, as `prosodyctl` does).
    pub(crate) fn served(&mut self) -> Option<super::loader::ServedCredentials> {
        if self.in_unit() {
            return None;
        }
        let service = self.service()?;
        if !service.import.is_empty() {
            return None;
        }
        let mut names: Vec<String> = service
            .load
            .iter()
            .chain(&service.set)
            .map(|e| e.name.clone())
            .collect();
        names.sort();
        names.dedup();
        let mut files = Vec::new();
        for name in names {
            match self.credential(&name) {
                Resolved::Value(v) => files.push((name, v)),
                // systemd would not start prosody: nothing to serve it.
                Resolved::Missing(_) => {}
                Resolved::Unverified(_) => return None,
            }
        }
        Some(super::loader::ServedCredentials {
            dir: unit_credentials::RUNTIME_DIR.into(),
            files,
        })
    }
}

/// Credential `name` as `unit` loads it from a file (`LoadCredential=` or
/// `LoadCredentialEncrypted=`), read as systemd will read it at start.
fn loaded_from_file(unit: &str, name: &str, source: &Source, root: bool) -> Resolved {
    let encrypted = matches!(source, Source::Encrypted(_));
    // A path with systemd's `%` specifiers is not resolved here.
    if let Source::Encrypted(Some(p)) | Source::Plain(Some(p)) = source {
        if p.as_os_str().as_encoded_bytes().contains(&b'%') {
            return Resolved::Unverified(format!(
                "{unit} loads the credential {name:?} from {}, whose % specifiers are not resolved here",
                p.display()
            ));
        }
    }
    let Some(file) = unit_credentials::source_file(name, source) else {
        return Resolved::Missing(format!(
            "{unit} loads the credential {name:?} from no file that exists (searched the credential stores): systemd will fail to start prosody"
        ));
    };
    if let Some(r) = unreadable_source(unit, name, &file) {
        return r;
    }
    if !encrypted {
        return match read_file(&file, false) {
            Resolved::Missing(m) | Resolved::Unverified(m) => Resolved::Unverified(m),
            v => v,
        };
    }
    if !root {
        return Resolved::Unverified(format!(
            "the credential {name:?} is encrypted ({}); only root can decrypt it: run as root to check the secret behind it",
            file.display()
        ));
    }
    match crate::system::credentials::decrypt(name, &file) {
        Ok(v) => Resolved::Value(v),
        Err(e) => Resolved::Unverified(e.to_string()),
    }
}

/// Why the credential file `file` cannot be read as one credential here,
/// or `None` when it is a file we may open.
fn unreadable_source(unit: &str, name: &str, file: &Path) -> Option<Resolved> {
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Resolved::Missing(format!(
            "{unit} loads the credential {name:?} from {}, which does not exist: systemd will fail to start prosody",
            file.display()
        ))),
        // A directory: systemd loads each file in it as a credential of its
        // own; not modelled here.
        Ok(m) if m.is_dir() => Some(Resolved::Unverified(format!(
            "{unit} loads credentials from the directory {}, which is not read here",
            file.display()
        ))),
        // systemd (root) reads it; we may not even see it.
        Err(e) => Some(Resolved::Unverified(format!(
            "{unit} loads the credential {name:?} from {}, which cannot be read here ({}): run as root to check it",
            file.display(),
            crate::text::plain_io(&e)
        ))),
        Ok(_) => None,
    }
}

impl Resolve for Resolver {
    fn resolve(&mut self, r: &SecretRef, file: &Path) -> Resolved {
        Resolver::resolve(self, r, file)
    }
}

/// A file behind `FileContents`/`FileLine` (or a credential file), read as
/// prosody reads it: all of it, or its first line without the newline.
fn read_file(path: &Path, first_line: bool) -> Resolved {
    use crate::secret::{read_regular, ReadError};
    match read_regular(path, MAX_READ, "the file") {
        Ok(mut bytes) => {
            if first_line {
                match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => bytes.truncate(i),
                    // Lua's read("*l") at the end of an empty file: nil, an error.
                    None if bytes.is_empty() => {
                        return Resolved::Missing(format!(
                            "{} is empty: prosody's FileLine() fails on it",
                            path.display()
                        ))
                    }
                    None => {}
                }
            }
            Resolved::Value(bytes)
        }
        Err(ReadError::Missing) => Resolved::Missing(format!(
            "{} does not exist: prosody fails to load the config",
            path.display()
        )),
        Err(ReadError::TooLarge) => Resolved::Unverified(format!(
            "{} is larger than {MAX_READ} bytes: not read",
            path.display()
        )),
        Err(e) => {
            let m = e.to_string();
            let denied = std::fs::File::open(path)
                .err()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
            // Root reads anything; prosody's user may not. We are that
            // user in the unit (and then prosody fails too).
            if denied && !running_as_prosody() {
                Resolved::Unverified(m)
            } else {
                Resolved::Missing(format!("{m}: prosody fails to load the config"))
            }
        }
    }
}

/// Whether we run as the `prosody` user (as the unit's `ExecStartPre=` does).
fn running_as_prosody() -> bool {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .is_some_and(|u| u.name == "prosody")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(env_dir: Option<&Path>, unit_path: Vec<PathBuf>) -> Resolver {
        Resolver {
            env_dir: env_dir.map(Path::to_path_buf),
            unit_path,
            service: None,
            root: false,
            credentials: HashMap::new(),
        }
    }

    fn cred(name: &str) -> SecretRef {
        SecretRef {
            kind: SecretRefKind::Credential,
            arg: name.as_bytes().to_vec(),
        }
    }

    #[test]
    fn in_the_unit_credentials_come_from_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x"), "0123456789abcdef0123\n").unwrap();
        let mut r = resolver(Some(tmp.path()), vec![]);
        let here = Path::new("/etc/prosody/prosody.cfg.lua");
        assert_eq!(
            r.resolve(&cred("x"), here),
            Resolved::Value(b"0123456789abcdef0123\n".to_vec()),
            "the whole file, newline too, as prosody reads it"
        );
        assert!(
            matches!(r.resolve(&cred("y"), here), Resolved::Missing(m) if m.contains("LoadCredentialEncrypted=y:"))
        );
        assert!(
            r.served().is_none(),
            "the loader reads the directory itself"
        );
    }

    #[test]
    fn outside_the_unit_the_unit_says() {
        let tmp = tempfile::tempdir().unwrap();
        let units = tmp.path().join("units");
        std::fs::create_dir_all(units.join("prosody.service.d")).unwrap();
        std::fs::write(
            units.join("prosody.service"),
            "[Service]\nExecStart=/usr/bin/prosody -F\n",
        )
        .unwrap();
        let plain = tmp.path().join("plain");
        std::fs::write(&plain, "short").unwrap();
        std::fs::write(
            units.join("prosody.service.d/x.conf"),
            format!(
                "[Service]\nLoadCredential=p:{}\nSetCredential=s:0123456789abcdef\nLoadCredentialEncrypted=e:{}/e.cred\nLoadCredential=gone:/nonexistent/gone\nLoadCredential=spec:/etc/%H/spec\nLoadCredential=dir:{}\n",
                plain.display(),
                tmp.path().display(),
                tmp.path().display()
            ),
        )
        .unwrap();
        std::fs::write(tmp.path().join("e.cred"), "ciphertext").unwrap();
        let mut r = resolver(None, vec![units.clone()]);
        let here = Path::new("/etc/prosody/prosody.cfg.lua");
        assert_eq!(
            r.resolve(&cred("p"), here),
            Resolved::Value(b"short".to_vec())
        );
        assert_eq!(
            r.resolve(&cred("s"), here),
            Resolved::Value(b"0123456789abcdef".to_vec())
        );
        assert!(
            matches!(r.resolve(&cred("e"), here), Resolved::Unverified(m) if m.contains("only root"))
        );
        assert!(
            matches!(r.resolve(&cred("gone"), here), Resolved::Missing(m) if m.contains("does not exist"))
        );
        assert!(
            matches!(r.resolve(&cred("nope"), here), Resolved::Missing(m) if m.contains("prosody will fail to start"))
        );
        // What systemd resolves and we do not: never a false "missing".
        assert!(
            matches!(r.resolve(&cred("spec"), here), Resolved::Unverified(m) if m.contains("% specifiers"))
        );
        assert!(
            matches!(r.resolve(&cred("dir"), here), Resolved::Unverified(m) if m.contains("directory"))
        );
        // One credential not readable here: the loader only warns.
        assert!(r.served().is_none());
        // No unit at all: nothing known.
        let mut none = resolver(None, vec![tmp.path().join("empty")]);
        assert!(matches!(
            none.resolve(&cred("p"), here),
            Resolved::Unverified(_)
        ));
    }

    #[test]
    fn files_are_relative_to_the_config_file_that_names_them() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("conf.d")).unwrap();
        std::fs::write(tmp.path().join("conf.d/s"), "line one\nline two\n").unwrap();
        std::fs::write(tmp.path().join("conf.d/empty"), "").unwrap();
        let file = tmp.path().join("conf.d/x.cfg.lua");
        let mut r = resolver(None, vec![]);
        let fref = |kind, arg: &str| SecretRef {
            kind,
            arg: arg.as_bytes().to_vec(),
        };
        assert_eq!(
            r.resolve(&fref(SecretRefKind::FileContents, "s"), &file),
            Resolved::Value(b"line one\nline two\n".to_vec())
        );
        assert_eq!(
            r.resolve(&fref(SecretRefKind::FileLine, "./s"), &file),
            Resolved::Value(b"line one".to_vec())
        );
        assert!(matches!(
            r.resolve(&fref(SecretRefKind::FileLine, "empty"), &file),
            Resolved::Missing(_)
        ));
        assert!(matches!(
            r.resolve(&fref(SecretRefKind::FileContents, "nope"), &file),
            Resolved::Missing(_)
        ));
        // A directory: prosody opens it and fails to read it.
        assert!(matches!(
            r.resolve(&fref(SecretRefKind::FileContents, "."), &file),
            Resolved::Missing(_)
        ));
        // Debug output never shows a value.
        let v = r.resolve(&fref(SecretRefKind::FileContents, "s"), &file);
        assert_eq!(format!("{v:?}"), "Value(18 bytes)");
    }
}
