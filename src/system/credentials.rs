//! systemd's encrypted credentials, for component secrets kept out of
//! prosody's config (prosody 13: `component_secret = Credential("NAME")`).
//!
//! A secret is encrypted by `systemd-creds` (the host key, and the TPM2 too
//! where there is one) into a `.cred` file in `CREDENTIALS_DIR`; our
//! drop-in for prosody.service (`DROP_IN`) has one
//! `LoadCredentialEncrypted=NAME:PATH` line per file, so systemd decrypts it
//! into the service's `$CREDENTIALS_DIRECTORY` at start, where prosody's
//! `Credential()` reads it. Plaintext passes only through pipes: standard
//! input of `systemd-creds encrypt`, standard output of `decrypt`.

use std::path::{Path, PathBuf};

use std::process::ExitStatus;

use super::run::{Failure, Run, RunError};

use crate::prosody::credential_names::name_fault;
use crate::text::remedy::AtStartOnly;

/// Where our `.cred` files live: root's, `0700`.
pub(crate) const CREDENTIALS_DIR: &str = "/etc/fogbow-xmpp-ctl/credentials";

/// Our second drop-in for prosody.service: the `LoadCredentialEncrypted=`
/// lines, generated from the credentials the config uses. (The first, the
/// check before start and reload, is the package's, under /usr/lib.)
pub(crate) const DROP_IN: &str =
    "/etc/systemd/system/prosody.service.d/fogbow-xmpp-ctl-credentials.conf";

/// Why `path` may not be written into our drop-in as a credential's file,
/// if it may not: it must be absolute, with no control character, no
/// whitespace, and none of `%`, `\` or quotes (see [`name_fault`]).
pub(crate) fn path_fault(path: &Path) -> Option<String> {
    let Some(text) = path.to_str() else {
        return Some("it is not UTF-8".into());
    };
    if !path.is_absolute() {
        return Some("it is not absolute".into());
    }
    text.chars()
        .find(|&c| c.is_control() || c.is_whitespace() || matches!(c, '%' | '\\' | '"' | '\''))
        .map(|c| format!("it holds the character {c:?}"))
}

/// The `.cred` file of credential `name` in the directory `dir` (the
/// settings' `credentials_dir`, [`CREDENTIALS_DIR`] by default).
pub(crate) fn cred_path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.cred"))
}

/// The Lua expression a component's secret becomes:
/// `Credential("fogbow-xmpp-ctl.NAME")`.
pub(crate) fn expression(name: &str) -> String {
    format!(
        "Credential({})",
        crate::document::lexer::encode_string(name.as_bytes())
    )
}

/// Whether the installed prosody can read a secret with `Credential()`
/// (prosody 13 and later), found by feature, not by version number: its
/// configmanager defines `set_credentials_directory`, which prosody's
/// start-up calls with `$CREDENTIALS_DIRECTORY`. The error says why not,
/// naming the version where prosody says it. The prosody looked at is the
/// one prosody's own loader runs: its modules in `lib` (the `prosody_lib`
/// setting, [`super::loader::Installed::find`]).
pub(crate) fn prosody_support(lib: &Path) -> Result<(), Unsupported> {
    let Some(installed) = super::loader::Installed::find(lib) else {
        return Err(Unsupported::NotInstalled {
            lib: lib.to_path_buf(),
        });
    };
    // The same file in 0.12 and 13 (13 loads it as prosody.core.configmanager).
    let cm = installed.lib.join("core/configmanager.lua");
    if installed.has_credentials() {
        return Ok(());
    }
    let version = std::fs::read_to_string(installed.lib.join("prosody.version"))
        .map(|v| format!("prosody {}", v.trim()))
        .unwrap_or_else(|_| "the installed prosody".into());
    Err(Unsupported::Lacking {
        version,
        configmanager: cm,
    })
}

/// Why the installed prosody cannot read `Credential()`.
#[derive(Debug)]
pub enum Unsupported {
    /// No prosody is installed: `lib` has no configmanager.
    NotInstalled { lib: PathBuf },
    /// The installed prosody (`version`, as it says it) lacks it: its
    /// `configmanager` has no `set_credentials_directory`.
    Lacking {
        version: String,
        configmanager: PathBuf,
    },
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::NotInstalled { lib } => write!(
                f,
                "prosody is not installed (no configmanager under {}), so nothing shows that it can read Credential()",
                lib.display()
            ),
            Unsupported::Lacking {
                version,
                configmanager,
            } => write!(
                f,
                "{version} has no Credential() (its {} lacks set_credentials_directory; prosody reads secrets from systemd credentials since 13.0, Debian 13)",
                configmanager.display()
            ),
        }
    }
}

impl std::error::Error for Unsupported {}

/// Which key `encrypt` binds to: `host+tpm2` where a TPM2 is usable
/// (`systemd-creds has-tpm2` exits 0), else `host`.
pub(crate) fn key() -> &'static str {
    let tpm2 = Run::new("systemd-creds", &["has-tpm2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if tpm2 {
        "host+tpm2"
    } else {
        "host"
    }
}

/// Whether `systemd-creds` is installed.
pub(crate) fn available() -> bool {
    Run::new("systemd-creds", &["--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Encrypts `secret` as credential `name` with [`key`]: the `.cred` file's
/// bytes (base64 text). The secret goes through a pipe, never an argument.
pub(crate) fn encrypt(name: &str, secret: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let key = key();
    pipe(
        &[
            "encrypt",
            &format!("--name={name}"),
            &format!("--with-key={key}"),
            "-",
            "-",
        ],
        secret,
    )
    .map_err(|source| CredentialError::Encrypt {
        name: name.to_string(),
        source,
    })
}

/// Decrypts the `.cred` file `cred` of credential `name` (the name is
/// embedded and checked by systemd): the secret, in memory only. Needs root
/// (the host key is root's).
pub(crate) fn decrypt(name: &str, cred: &Path) -> Result<Vec<u8>, CredentialError> {
    let bytes = std::fs::read(cred).map_err(|source| CredentialError::Read {
        path: cred.to_path_buf(),
        source,
    })?;
    pipe(&["decrypt", &format!("--name={name}"), "-", "-"], &bytes).map_err(|source| {
        CredentialError::Decrypt {
            name: name.to_string(),
            path: Some(cred.to_path_buf()),
            source,
        }
    })
}

/// Decrypts the `.cred` bytes `cred` of credential `name` (not yet on disk:
/// an edit's prepared credential), in memory only.
pub(crate) fn decrypt_bytes(name: &str, cred: &[u8]) -> Result<Vec<u8>, CredentialError> {
    pipe(&["decrypt", &format!("--name={name}"), "-", "-"], cred).map_err(|source| {
        CredentialError::Decrypt {
            name: name.to_string(),
            path: None,
            source,
        }
    })
}

/// Why a credential was not encrypted or decrypted.
#[derive(Debug)]
pub enum CredentialError {
    /// `systemd-creds encrypt` of credential `name` failed.
    Encrypt { name: String, source: CredsError },
    /// The `.cred` file cannot be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `systemd-creds decrypt` of credential `name` (from `path`, or from
    /// memory) failed.
    Decrypt {
        name: String,
        path: Option<PathBuf>,
        source: CredsError,
    },
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialError::Encrypt { name, source } => {
                write!(
                    f,
                    "systemd-creds cannot encrypt the credential {name}: {source}"
                )
            }
            CredentialError::Read { path, source } => write!(
                f,
                "cannot read {}: {}",
                path.display(),
                crate::text::plain_io(source)
            ),
            CredentialError::Decrypt { name, path, source } => match path {
                Some(path) => write!(
                    f,
                    "systemd-creds cannot decrypt {} as the credential {name}: {source}",
                    path.display()
                ),
                None => write!(
                    f,
                    "systemd-creds cannot decrypt the credential {name}: {source}"
                ),
            },
        }
    }
}

impl std::error::Error for CredentialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CredentialError::Encrypt { source, .. } | CredentialError::Decrypt { source, .. } => {
                Some(source)
            }
            CredentialError::Read { source, .. } => Some(source),
        }
    }
}

/// Why `systemd-creds` gave no output: it could not be run, or it refused
/// (its own words, which never hold the plaintext, and its exit status).
#[derive(Debug)]
pub enum CredsError {
    Run(RunError),
    Refused { said: String, status: ExitStatus },
}

impl std::fmt::Display for CredsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredsError::Run(e) => match &e.failure {
                Failure::Spawn(io) => {
                    write!(f, "cannot run systemd-creds: {}", crate::text::plain_io(io))
                }
                Failure::Wait(io) => write!(f, "systemd-creds: {}", crate::text::plain_io(io)),
                Failure::Timeout(_) => std::fmt::Display::fmt(e, f),
            },
            CredsError::Refused { said, status } => write!(f, "{said} ({status})"),
        }
    }
}

impl std::error::Error for CredsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CredsError::Run(e) => Some(e),
            CredsError::Refused { .. } => None,
        }
    }
}

/// Runs `systemd-creds` with `args` and `input` on its standard input;
/// its standard output, or its standard error as the message.
fn pipe(args: &[&str], input: &[u8]) -> Result<Vec<u8>, CredsError> {
    let out = Run::new("systemd-creds", args)
        .input(input)
        .output()
        .map_err(CredsError::Run)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        // systemd-creds' own words (it never prints the plaintext on error),
        // without its note about the host key on unencrypted media.
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("not located on encrypted media"))
            .collect();
        Err(CredsError::Refused {
            said: err.join("; ").trim().to_string(),
            status: out.status,
        })
    }
}

/// One `LoadCredentialEncrypted=NAME:PATH` line of a unit or drop-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadCredential {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
}

/// The `LoadCredentialEncrypted=NAME:PATH` entries of a unit file or
/// drop-in, read by the one unit-file parser
/// ([`ServiceCredentials::parse`](super::unit_credentials::ServiceCredentials::parse)),
/// so with systemd's rules: `[Service]` only, continuation lines, quotes,
/// and an empty assignment resetting the list.
pub(crate) fn parse_drop_in(text: &str) -> Vec<LoadCredential> {
    use super::unit_credentials::{ServiceCredentials, Source};
    let mut unit = ServiceCredentials::default();
    unit.parse(text);
    unit.load
        .into_iter()
        .filter_map(|e| match e.source {
            Source::Encrypted(Some(path)) => Some(LoadCredential { name: e.name, path }),
            _ => None,
        })
        .collect()
}

/// Whether `systemctl reload prosody` hands the running prosody its
/// changed credentials (systemd 260's `RefreshOnReload=credentials`, which
/// refreshes them before `ExecReload=` signals prosody), or why not.
pub fn reload_refreshes() -> Result<(), AtStartOnly> {
    if !crate::system::service::systemd_running()
        || crate::system::service::unit_property("ActiveState") != "active"
    {
        return Err(AtStartOnly::NotRunning);
    }
    let list = crate::system::service::refresh_on_reload().ok_or(AtStartOnly::NoRefresh)?;
    if !list.split_whitespace().any(|w| w == "credentials") {
        return Err(AtStartOnly::UnitLacks);
    }
    if !Path::new(crate::system::unit_credentials::RUNTIME_DIR).is_dir() {
        return Err(AtStartOnly::StartedWithout);
    }
    Ok(())
}

/// A line `render_drop_in` refuses to write into a unit: the message
/// names the credential and why (an edit that needs it is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeLine(pub(crate) String);

impl std::fmt::Display for UnsafeLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnsafeLine {}

/// Our drop-in's text for `creds` (sorted by name, so the same set always
/// gives the same bytes), with `RefreshOnReload=credentials` when `refresh`
/// (a systemd that knows it: a reload then refreshes the credentials; an
/// older one would log the key as unknown at every daemon-reload). The
/// drop-in is a boundary: it is part of a unit that root's systemd runs, so
/// a name or path that fails [`name_fault`] or [`path_fault`] is refused,
/// never written.
pub(crate) fn render_drop_in(
    creds: &[LoadCredential],
    refresh: bool,
) -> Result<String, UnsafeLine> {
    let mut creds = creds.to_vec();
    creds.sort_by(|a, b| a.name.cmp(&b.name));
    creds.dedup_by(|a, b| a.name == b.name);
    let mut s = String::from(
        "# Generated by fogbow-xmpp-ctl: the encrypted component secrets prosody's\n\
         # config reads with Credential(\"NAME\"). Edited by `fogbow-xmpp-ctl add\n\
         # --secret-store credential`, `remove` and `migrate`; do not edit by hand.\n\
         [Service]\n",
    );
    if refresh {
        s.push_str("RefreshOnReload=credentials\n");
    }
    for c in &creds {
        let fault = name_fault(&c.name)
            .map(|why| format!("the credential name {:?}: {why}", c.name))
            .or_else(|| {
                path_fault(&c.path).map(|why| format!("the credential file {:?}: {why}", c.path))
            });
        if let Some(fault) = fault {
            return Err(UnsafeLine(format!(
                "refusing to write a LoadCredentialEncrypted= line into the drop-in for {fault}; nothing was changed"
            )));
        }
        s.push_str(&format!(
            "LoadCredentialEncrypted={}:{}\n",
            c.name,
            c.path.display()
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a unit file could read as more than a name never gets there.
    #[test]
    fn the_drop_in_refuses_what_a_unit_would_reinterpret() {
        let path = PathBuf::from("/etc/fogbow-xmpp-ctl/credentials/x.cred");
        for bad in [
            "fogbow-xmpp-ctl.x\nExecStartPre=+/bin/sh -c 'id'",
            "fogbow-xmpp-ctl.x\rExecStartPre=/bin/true",
            "fogbow-xmpp-ctl.a:b",
            "fogbow-xmpp-ctl.%H",
            "fogbow-xmpp-ctl.a\\nb",
            "fogbow-xmpp-ctl.a b",
            "fogbow-xmpp-ctl.\"a\"",
            "fogbow-xmpp-ctl.a/b",
            "fogbow-xmpp-ctl.bücher",
            "someone-else",
            &format!("fogbow-xmpp-ctl.{}", "x".repeat(240)),
        ] {
            assert!(name_fault(bad).is_some(), "{bad:?}");
            let creds = [LoadCredential {
                name: bad.into(),
                path: path.clone(),
            }];
            assert!(render_drop_in(&creds, false).is_err(), "{bad:?}");
        }
        for bad in [
            "relative/x.cred",
            "/etc/a b/x.cred",
            "/etc/%H/x.cred",
            "/etc/x\n.cred",
        ] {
            let creds = [LoadCredential {
                name: "fogbow-xmpp-ctl.x".into(),
                path: bad.into(),
            }];
            assert!(render_drop_in(&creds, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn drop_in_round_trips_and_resets() {
        let creds = vec![
            LoadCredential {
                name: "fogbow-xmpp-ctl.b".into(),
                path: "/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.b.cred".into(),
            },
            LoadCredential {
                name: "fogbow-xmpp-ctl.a".into(),
                path: "/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.a.cred".into(),
            },
        ];
        let text = render_drop_in(&creds, false).unwrap();
        let back = parse_drop_in(&text);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].name, "fogbow-xmpp-ctl.a", "sorted");
        assert_eq!(
            parse_drop_in(&format!("{text}LoadCredentialEncrypted=\n")),
            vec![]
        );
    }

    /// `RefreshOnReload=credentials` where the running systemd knows it,
    /// in the [Service] section and before the credentials; nothing of it
    /// where systemd is older (its verify would call the key unknown).
    #[test]
    fn the_drop_in_asks_for_refresh_on_reload_only_where_systemd_has_it() {
        let creds = [LoadCredential {
            name: "fogbow-xmpp-ctl.a".into(),
            path: "/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.a.cred".into(),
        }];
        let with = render_drop_in(&creds, true).unwrap();
        let lines: Vec<&str> = with.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "[Service]",
                "RefreshOnReload=credentials",
                "LoadCredentialEncrypted=fogbow-xmpp-ctl.a:/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.a.cred",
            ]
        );
        let without = render_drop_in(&creds, false).unwrap();
        assert!(!without.contains("RefreshOnReload"), "{without}");
        assert_eq!(without, with.replace("RefreshOnReload=credentials\n", ""));
        assert_eq!(parse_drop_in(&with), parse_drop_in(&without));
    }

    /// The real systemd-creds, with the host key: a round trip, and the
    /// embedded name checked. Root only (the host key is root's).
    #[test]
    fn encrypt_decrypt_round_trip() {
        if !available() || !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("FXC_REQUIRE_REAL").is_none() || !nix::unistd::geteuid().is_root(),
                "systemd-creds is missing"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let secret = b"s3cret \"with\" \\ and ]] and \n newline";
        let cred = encrypt("fogbow-xmpp-ctl.test", secret).unwrap();
        assert!(!cred.windows(6).any(|w| w == b"s3cret"));
        let path = dir.path().join("t.cred");
        std::fs::write(&path, &cred).unwrap();
        assert_eq!(decrypt("fogbow-xmpp-ctl.test", &path).unwrap(), secret);
        let e = decrypt("fogbow-xmpp-ctl.other", &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match"), "{e}");
        assert!(!e.contains("s3cret"));
    }
}
