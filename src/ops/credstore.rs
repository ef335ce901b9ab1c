//! Secrets kept out of the config: a component's secret in an
//! encrypted systemd credential, `component_secret =
//! Credential("fogbow-xmpp-ctl.NAME")` in the config, and our drop-in for
//! prosody.service with one `LoadCredentialEncrypted=` line per credential
//! the config reads.
//!
//! The `.cred` files and the drop-in are files of the edit like the
//! config's own ([`SysFile`]): prepared with them, judged with them,
//! renamed with them, backed up and recorded with them, so an edit changes
//! all or none, and `restore --undo` undoes all of it. After every edit
//! ([`sync`]) the drop-in is regenerated from the credentials the edited
//! config reads (so it is always in step), a `.cred` file the config no
//! longer reads is removed, and an edit that would leave the config
//! reading a credential whose file is gone is refused like any edit that
//! breaks the config.
//!
//! Backups: once a component's secret has moved from the config into a
//! credential, the backups that still hold the old string are rewritten
//! with the `Credential()` form ([`scrub`]): the encrypted file is then
//! the only copy. A backup where the secret also appears otherwise (in a
//! comment) is deleted. A scrub is marked pending in the backup directory
//! before the commit that makes the backups hold the string, so a kill
//! before it is done leaves it to the next edit.
//!
//! The edit pipeline knows none of this: it calls the store at its stages
//! through [`Store`] (before the plan, after the edit) and [`StoreEdit`]
//! (before the commit, the files to rename around the config's, after the
//! commit).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::plan::{self, Change, Plan};
use super::{Action, Context, EditOptions};
use crate::diagnostics::Note;
use crate::document::lexer::{self, Tok};
use crate::document::{Document, SecretRefKind, Value};
use crate::error::refusal::{self, Lack};
use crate::error::Error;
use crate::error::Missing;
use crate::prosody::config::ConfigSet;
use crate::prosody::credential_names;
use crate::safe_write;
use crate::settings::SecretStore;
use crate::system::credentials::{self, LoadCredential};
use crate::text;

/// A file of ours outside the config that an edit writes or removes.
pub(super) struct SysFile {
    pub(crate) path: PathBuf,
    pub(crate) kind: SysKind,
    pub(crate) change: SysChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SysKind {
    /// An encrypted credential (`.cred`, root `0600`).
    Credential,
    /// Our drop-in for prosody.service (`0644`).
    DropIn,
}

pub(super) enum SysChange {
    /// New contents (ciphertext for a credential; empty in a dry run).
    Write(Vec<u8>),
    Delete,
}

/// What an edit did (or, in a dry run, would do) to a file of ours outside
/// the config; its JSON form (`"credential_files"`) is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct SysFileChange {
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    /// `credential` or `drop-in`.
    pub kind: SysKind,
    /// `created`, `replaced` or `removed`.
    pub action: &'static str,
}

impl SysFile {
    /// What committing this does, said before it is done.
    pub(super) fn describe(&self) -> SysFileChange {
        SysFileChange {
            file: self.path.clone(),
            kind: self.kind,
            action: match (&self.change, self.path.exists()) {
                (SysChange::Delete, _) => "removed",
                (SysChange::Write(_), true) => "replaced",
                (SysChange::Write(_), false) => "created",
            },
        }
    }
}

/// Where a component's secret is, as prosody would read it: the last
/// `component_secret` of its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SecretState {
    Missing,
    Literal(Vec<u8>),
    /// `Credential("NAME")` with a name of ours.
    Ours(String),
    /// Anything else: an expression, another helper, someone else's credential.
    Other,
}

fn state_of(v: Option<Value<'_>>) -> SecretState {
    let Some(v) = v else {
        return SecretState::Missing;
    };
    if let Some(l) = v.literal() {
        return SecretState::Literal(l);
    }
    match v.secret_ref() {
        Some(r) if r.kind == SecretRefKind::Credential => match String::from_utf8(r.arg) {
            Ok(n) if credential_names::is_ours(&n) => SecretState::Ours(n),
            _ => SecretState::Other,
        },
        _ => SecretState::Other,
    }
}

pub(super) fn secret_state(set: &ConfigSet, name: &str) -> SecretState {
    state_of(set.hosts_named(name).iter().rev().find_map(|h| h.secret()))
}

/// Where the config first reads a credential of ours.
pub(super) struct ReadAt {
    /// `FILE:LINE` of the component's block.
    block: String,
    /// `FILE:LINE:COLUMN` of the `Credential()` call.
    call: String,
}

/// The credentials of ours the config reads, each with the first place
/// that reads it.
fn referenced(set: &ConfigSet) -> BTreeMap<String, ReadAt> {
    let mut out = BTreeMap::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(value) = h.secret() else { continue };
        let start = value.span.start;
        if let SecretState::Ours(n) = state_of(Some(value)) {
            out.entry(n).or_insert_with(|| {
                let f = &set.files[h.at.file];
                let (line, column) = f.doc.line_col(start);
                ReadAt {
                    block: format!("{}:{}", f.path.display(), h.line()),
                    call: format!("{}:{line}:{column}", f.path.display()),
                }
            });
        }
    }
    out
}

/// Refuses to write credential `cred` (file `path`) for component `name`
/// when it is another component's: one whose `Credential()` reads it, or a
/// `.cred` already on disk that no block of `name` reads (left by hand, or
/// a component's that was removed from the config by hand). Writing it
/// would silently replace that component's secret.
fn refuse_others(set: &ConfigSet, name: &str, cred: &str, path: &Path) -> Result<(), Error> {
    let key = crate::prosody::names::fold(name.as_bytes()).into_owned();
    let mut owned = false;
    for h in set.hosts().filter(|h| h.is_external()) {
        if state_of(h.secret()) != SecretState::Ours(cred.to_string()) {
            continue;
        }
        let other = h.literal_name();
        if other
            .as_ref()
            .is_some_and(|o| *crate::prosody::names::fold(o.as_bytes()) == *key)
        {
            owned = true;
            continue;
        }
        let other = other.unwrap_or_else(|| "a component with a computed name".into());
        return Err(Error::refused(refusal::Credential::Taken {
            cred: cred.to_string(),
            name: name.to_string(),
            other,
            path: set.files[h.at.file].path.clone(),
            line: h.line(),
        }));
    }
    if !owned && std::fs::symlink_metadata(path).is_ok() {
        return Err(Error::refused(refusal::Credential::Exists {
            cred: cred.to_string(),
            name: name.to_string(),
            path: path.to_path_buf(),
        }));
    }
    Ok(())
}

/// The credential name of component `name`: from its spelling in the
/// config where it has one (so that every spelling prosody folds together
/// reads one credential).
fn credential_for(set: &ConfigSet, name: &str) -> String {
    let spelled = set
        .hosts_named(name)
        .first()
        .and_then(|h| h.literal_name())
        .unwrap_or_else(|| name.to_string());
    credential_names::credential_name(&spelled)
}

/// Refuses to write a `Credential()` where it cannot work: a prosody
/// without it (0.12; the one in `prosody_lib`), no systemd-creds, not root
/// (the host key is root's).
pub(super) fn require_support(prosody_lib: &Path, what: &str) -> Result<(), Error> {
    let refuse = |lack: Lack| {
        Err(Error::refused(refusal::Credential::Unsupported {
            what: what.to_string(),
            lack,
        }))
    };
    if let Err(why) = credentials::prosody_support(prosody_lib) {
        return refuse(Lack::Prosody(why));
    }
    if !credentials::available() {
        return refuse(Lack::SystemdCreds);
    }
    if !nix::unistd::geteuid().is_root() {
        return refuse(Lack::Root);
    }
    Ok(())
}

/// A string no secret of ours is (it has spaces, and no edit writes it to
/// disk): the plan of a literal secret is made with it, then its string is
/// swapped for the `Credential()` expression.
const MARK: &[u8] = b"fogbow-xmpp-ctl credential placeholder 0x7d1f";

/// `bytes` with the last occurrence of the placeholder's string literal
/// replaced by `Credential("cred")` (the last: a component's name comes
/// before its secret).
fn swap_mark(bytes: Vec<u8>, cred: &str) -> Vec<u8> {
    let lit = lexer::encode_string(MARK);
    let lit = lit.as_bytes();
    let Some(at) = bytes.windows(lit.len()).rposition(|w| w == lit) else {
        return bytes;
    };
    [
        &bytes[..at],
        credentials::expression(cred).as_bytes(),
        &bytes[at + lit.len()..],
    ]
    .concat()
}

/// The check of a credential plan: the component's secret is our credential.
fn verified_credential(name: &str, cred: &str, action: Action) -> plan::Verify {
    let (name, cred) = (name.to_string(), cred.to_string());
    Box::new(move |s: &ConfigSet| {
        let hosts = s.hosts_named(&name);
        if hosts.iter().any(|h| h.is_external())
            && secret_state(s, &name) == SecretState::Ours(cred.clone())
        {
            Ok(())
        } else {
            Err(Error::refused(refusal::Unintended::Credential {
                name: name.clone(),
                cred: cred.clone(),
                action: action.as_str(),
            }))
        }
    })
}

/// The encrypted `.cred` bytes of `secret` (nothing in a dry run, which
/// writes nothing).
fn encrypted(cred: &str, secret: &[u8], dry_run: bool) -> Result<Vec<u8>, Error> {
    if dry_run {
        return Ok(Vec::new());
    }
    credentials::encrypt(cred, secret).map_err(|e| Error::refused(refusal::Credential::Encrypt(e)))
}

/// `add` of a component whose secret already is our credential `cred`:
/// the same secret is unchanged; a different one (`--replace`) is a new
/// `.cred` under the name the config reads, the config left as it is.
fn plan_rotate(
    ctx: &Context,
    set: &ConfigSet,
    name: &str,
    cred: &str,
    secret: &[u8],
    replace: bool,
    dry_run: bool,
) -> Result<(Plan, Vec<SysFile>), Error> {
    let dir = &ctx.settings.credentials_dir;
    let hosts = set.hosts_named(name);
    let owner = hosts
        .iter()
        .rev()
        .find(|h| h.secret().is_some())
        .expect("a secret was found");
    if let Some(why) = credential_names::name_fault(cred) {
        return Err(Error::refused(refusal::Credential::ForeignName {
            name: name.to_string(),
            path: set.files[owner.at.file].path.clone(),
            line: owner.line(),
            cred: cred.to_string(),
            why,
        }));
    }
    let path = credentials::cred_path_in(dir, cred);
    let unchanged = Plan {
        action: Action::Unchanged,
        files: BTreeMap::new(),
        file: owner.at.file,
        create: Vec::new(),
        verify: verified_credential(name, cred, Action::Unchanged),
    };
    // Decrypting needs root; a file that is gone or does not decrypt
    // is a different secret.
    let same = nix::unistd::geteuid().is_root()
        && credentials::decrypt(cred, &path).is_ok_and(|s| s == secret);
    if same {
        return Ok((unchanged, Vec::new()));
    }
    refuse_others(set, name, cred, &path)?;
    if !replace {
        return Err(Error::refused(refusal::Component::SecretDiffers {
            name: name.to_string(),
            at: format!(
                "{}:{}",
                set.files[owner.at.file].path.display(),
                owner.line()
            ),
            credential: Some(path),
        }));
    }
    require_support(&ctx.settings.prosody_lib, "to rotate the credential")?;
    let cred_bytes = encrypted(cred, secret, dry_run)?;
    Ok((
        Plan {
            action: Action::Replaced,
            verify: verified_credential(name, cred, Action::Replaced),
            ..unchanged
        },
        vec![SysFile {
            path,
            kind: SysKind::Credential,
            change: SysChange::Write(cred_bytes),
        }],
    ))
}

/// The plan of `add`: into our credential when the secret store (the
/// option's, else the settings') is `credential`, or when the secret
/// already is in one (rotated by --replace whatever the store: moving it
/// back is `migrate --to config`); else a string in the config.
pub(super) fn plan_add_in_store(
    ctx: &Context,
    set: &ConfigSet,
    name: &str,
    secret: &[u8],
    file: Option<&Path>,
    opts: EditOptions,
) -> Result<(Plan, Vec<SysFile>), Error> {
    let store = opts.secret_store.unwrap_or(ctx.settings.secret_store);
    let in_credential = matches!(secret_state(set, name), SecretState::Ours(_));
    if store == SecretStore::Credential || in_credential {
        return plan_add(ctx, set, name, secret, opts.replace, file, opts.dry_run);
    }
    Ok((
        plan::add(set, name, secret, opts.replace, file)?,
        Vec::new(),
    ))
}

/// `add` of a secret kept in a credential: for a new component, a
/// component without a secret, or one whose secret is a string in the
/// config (which moves into the credential: `--replace` when it differs);
/// a component whose secret already is our credential gets a new `.cred`
/// (`--replace`) and an unchanged config. `store_credential`: the secret
/// store asked for (a component already in a credential stays there
/// whatever it is).
pub(super) fn plan_add(
    ctx: &Context,
    set: &ConfigSet,
    name: &str,
    secret: &[u8],
    replace: bool,
    file: Option<&Path>,
    dry_run: bool,
) -> Result<(Plan, Vec<SysFile>), Error> {
    if let SecretState::Ours(cred) = secret_state(set, name) {
        return plan_rotate(ctx, set, name, &cred, secret, replace, dry_run);
    }
    let dir = &ctx.settings.credentials_dir;
    // The refusals of a plain `add` (a VirtualHost, a plugin, an
    // expression, a different secret without --replace), said as it says them.
    let as_literal = plan::add(set, name, secret, replace, file)?;
    require_support(&ctx.settings.prosody_lib, "--secret-store credential")?;
    let cred = credential_for(set, name);
    refuse_others(set, name, &cred, &credentials::cred_path_in(dir, &cred))?;
    // The same secret already in the config: it moves into the credential.
    let action = match as_literal.action {
        Action::Unchanged => Action::Replaced,
        a => a,
    };
    let p = plan::add(set, name, MARK, true, file)?;
    let files = p
        .files
        .into_iter()
        .map(|(i, c)| {
            let c = match c {
                Change::Splice(edits) => Change::Splice(
                    edits
                        .into_iter()
                        .map(|(span, bytes)| (span, swap_mark(bytes, &cred)))
                        .collect(),
                ),
                other => other,
            };
            (i, c)
        })
        .collect();
    let create = p
        .create
        .into_iter()
        .map(|mut n| {
            n.text = swap_mark(n.text, &cred);
            n
        })
        .collect();
    let cred_bytes = encrypted(&cred, secret, dry_run)?;
    Ok((
        Plan {
            action,
            files,
            file: p.file,
            create,
            verify: verified_credential(name, &cred, action),
        },
        vec![SysFile {
            path: credentials::cred_path_in(dir, &cred),
            kind: SysKind::Credential,
            change: SysChange::Write(cred_bytes),
        }],
    ))
}

/// Where `migrate` moves a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateTo {
    /// Into an encrypted credential (prosody 13).
    Credential,
    /// Back into the config as a string (for prosody 0.12).
    Config,
}

/// The components `migrate` moves when none is named: the external ones
/// whose secret is a string in the config (to a credential), or our
/// credential (to the config).
pub(super) fn candidates(set: &ConfigSet, to: MigrateTo) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(name) = h.literal_name() else {
            continue;
        };
        let key = crate::prosody::names::fold(name.as_bytes()).into_owned();
        if !seen.insert(key) {
            continue;
        }
        let moves = match secret_state(set, &name) {
            SecretState::Literal(_) => to == MigrateTo::Credential,
            SecretState::Ours(_) => to == MigrateTo::Config,
            _ => false,
        };
        if moves {
            out.push(name);
        }
    }
    out
}

/// One component's secret moved: a string into our credential (the
/// config gets `Credential("…")`, a new `.cred`), or our credential back
/// into a string (decrypted; the `.cred` is removed by [`sync`]). Already
/// there: unchanged.
pub(super) fn plan_migrate(
    ctx: &Context,
    set: &ConfigSet,
    name: &str,
    to: MigrateTo,
    dry_run: bool,
) -> Result<(Plan, Vec<SysFile>), Error> {
    let hosts = set.hosts_named(name);
    if !hosts.iter().any(|h| h.is_external()) {
        // A VirtualHost, a plugin or nothing: `remove`'s words.
        plan::remove(set, name, false)?;
        return Err(Error::NotFound(Missing::External {
            name: name.to_string(),
            config: set.files[0].path.clone(),
            hint: None,
        }));
    }
    let owner_file = hosts
        .iter()
        .rev()
        .find(|h| h.secret().is_some())
        .map_or(hosts[0].at.file, |h| h.at.file);
    let unchanged = || Plan {
        action: Action::Unchanged,
        files: BTreeMap::new(),
        file: owner_file,
        create: Vec::new(),
        verify: Box::new(|_| Ok(())),
    };
    match (to, secret_state(set, name)) {
        (MigrateTo::Credential, SecretState::Literal(s)) => {
            let (mut p, sys) = plan_add(ctx, set, name, &s, true, None, dry_run)?;
            p.action = Action::Migrated;
            Ok((p, sys))
        }
        (MigrateTo::Credential, SecretState::Ours(_))
        | (MigrateTo::Config, SecretState::Literal(_)) => Ok((unchanged(), Vec::new())),
        (MigrateTo::Config, SecretState::Ours(cred)) => {
            let path = credentials::cred_path_in(&ctx.settings.credentials_dir, &cred);
            let secret = credentials::decrypt(&cred, &path).map_err(|error| {
                let name = name.to_string();
                Error::refused(refusal::Migrate::Decrypt { name, error })
            })?;
            Ok((plan_literal(set, name, &cred, secret)?, Vec::new()))
        }
        (_, SecretState::Missing) => Err(Error::refused(refusal::Migrate::NoSecret {
            name: name.to_string(),
        })),
        (_, SecretState::Other) => Err(Error::refused(refusal::Migrate::NotMovable {
            name: name.to_string(),
        })),
    }
}

/// The component's `Credential(cred)` replaced by the string `secret` (its
/// `.cred` and drop-in line then go, as [`sync`] makes them agree): a
/// migration back into the config, or the undo of a rotation into a
/// credential with the old string it kept encrypted.
pub(super) fn plan_literal(
    set: &ConfigSet,
    name: &str,
    cred: &str,
    secret: Vec<u8>,
) -> Result<Plan, Error> {
    crate::secret::validate(&secret).map_err(|error| {
        Error::refused(refusal::Migrate::Unusable {
            cred: cred.to_string(),
            name: name.to_string(),
            error,
        })
    })?;
    let (file, value) = set
        .hosts_named(name)
        .iter()
        .rev()
        .find_map(|h| Some((h.at.file, h.secret()?)))
        .ok_or_else(|| {
            Error::NotFound(Missing::Secret {
                name: name.to_string(),
                to: "replace",
            })
        })?;
    let edit = Document::replace_value_edit(&value, &secret);
    let n = name.to_string();
    Ok(Plan {
        action: Action::Migrated,
        files: BTreeMap::from([(file, Change::Splice(vec![edit]))]),
        file,
        create: Vec::new(),
        verify: Box::new(move |after: &ConfigSet| match secret_state(after, &n) {
            SecretState::Literal(l) if l == secret => Ok(()),
            _ => Err(Error::refused(refusal::Unintended::Literal {
                name: n.clone(),
            })),
        }),
    })
}

/// The files of ours outside the config after an edit, made to agree with
/// the edited config `after`: `planned` (the plan's own `.cred` files, an
/// undo's drop-in), plus the removal of each `.cred` the config read
/// (`before`) and no longer reads, plus the drop-in regenerated from the
/// credentials `after` reads (removed when it reads none). Refuses an edit
/// that leaves the config reading a credential whose file is gone, unless
/// it was gone already (that breakage is not the edit's).
fn sync(
    ctx: &Context,
    before: &BTreeMap<String, ReadAt>,
    after: &ConfigSet,
    mut planned: Vec<SysFile>,
) -> Result<Vec<SysFile>, Error> {
    let dir = &ctx.settings.credentials_dir;
    let now = referenced(after);
    let written: BTreeSet<PathBuf> = planned
        .iter()
        .filter(|f| matches!(f.change, SysChange::Write(_)))
        .map(|f| f.path.clone())
        .collect();
    let deleted: BTreeSet<PathBuf> = planned
        .iter()
        .filter(|f| matches!(f.change, SysChange::Delete))
        .map(|f| f.path.clone())
        .collect();
    let drop_in = &ctx.settings.credentials_drop_in;
    refuse_unit_unsafe(before, &now, drop_in)?;
    for (n, at) in &now {
        let place = &at.block;
        let p = credentials::cred_path_in(dir, n);
        let there = written.contains(&p) || (!deleted.contains(&p) && p.exists());
        let was_missing = before.contains_key(n) && !p.exists();
        if !there && !was_missing {
            return Err(Error::refused(refusal::Credential::Gone {
                place: place.to_string(),
                cred: n.to_string(),
                path: p,
            }));
        }
    }
    // A name we would not write (say, `..` in it) names no file of ours
    // to remove either.
    let gone = before
        .keys()
        .filter(|n| !now.contains_key(*n) && credential_names::name_fault(n).is_none());
    for n in gone {
        let p = credentials::cred_path_in(dir, n);
        if p.exists() && !written.contains(&p) && !deleted.contains(&p) {
            planned.push(SysFile {
                path: p,
                kind: SysKind::Credential,
                change: SysChange::Delete,
            });
        }
    }
    // The drop-in is always the one the config implies, whatever the plan said.
    planned.retain(|f| f.kind != SysKind::DropIn);
    planned.extend(drop_in_change(ctx, &now)?);
    Ok(planned)
}

/// The change of our drop-in that makes it load exactly the credentials
/// `now` names (removed when it names none); `None` when it already does.
fn drop_in_change(ctx: &Context, now: &BTreeMap<String, ReadAt>) -> Result<Option<SysFile>, Error> {
    let dir = &ctx.settings.credentials_dir;
    let drop_in = &ctx.settings.credentials_drop_in;
    let lines: Vec<LoadCredential> = now
        .keys()
        .map(|n| LoadCredential {
            name: n.clone(),
            path: credentials::cred_path_in(dir, n),
        })
        .collect();
    let desired = match lines.is_empty() {
        true => None,
        false => {
            // A reload refreshes credentials where systemd has the setting.
            let refresh = crate::system::service::refresh_on_reload().is_some();
            Some(credentials::render_drop_in(&lines, refresh)?.into_bytes())
        }
    };
    let current = std::fs::read(drop_in).ok();
    let change = match (desired, current) {
        (Some(d), Some(c)) if d == c => None,
        (Some(d), _) => Some(SysChange::Write(d)),
        (None, Some(_)) => Some(SysChange::Delete),
        (None, None) => None,
    };
    Ok(change.map(|change| SysFile {
        path: drop_in.clone(),
        kind: SysKind::DropIn,
        change,
    }))
}

/// Refuses an edit after which the config reads a credential name that
/// [`credential_names::name_fault`] refuses: the name would become a line of a
/// unit root's systemd runs. Named where the config read it before the
/// edit (that place is on disk), else where the edited config reads it.
fn refuse_unit_unsafe(
    before: &BTreeMap<String, ReadAt>,
    now: &BTreeMap<String, ReadAt>,
    drop_in: &Path,
) -> Result<(), Error> {
    for (n, at) in now {
        if let Some(why) = credential_names::name_fault(n) {
            let call = &before.get(n).unwrap_or(at).call;
            return Err(Error::refused(refusal::Credential::BadName {
                call: call.to_string(),
                cred: n.to_string(),
                why,
                drop_in: drop_in.to_path_buf(),
            }));
        }
    }
    Ok(())
}

/// A prepared file of ours, with what it will hold (`None`: removed).
pub(super) type PreparedSys = (safe_write::Prepared, Option<Vec<u8>>);

/// Prepares the files of ours for [`safe_write::commit_all`]: the
/// credentials directory (root `0700`, made if missing) and each `.cred`
/// (`0600`); the drop-in's directory (`0755`) and the drop-in (`0644`).
fn prepare(ctx: &Context, files: &[SysFile]) -> Result<Vec<PreparedSys>, Error> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let (dir, dir_mode, file_mode, what) = match f.kind {
            SysKind::Credential => (
                ctx.settings.credentials_dir.clone(),
                0o700,
                0o600,
                "the credentials directory",
            ),
            SysKind::DropIn => (
                f.path.parent().unwrap_or(Path::new("/")).to_path_buf(),
                0o755,
                0o644,
                "the drop-in directory",
            ),
        };
        match &f.change {
            SysChange::Write(bytes) => {
                safe_write::ensure_private_dir(&dir, dir_mode, what)?;
                let _ = safe_write::remove_stale_temp_files(&f.path);
                out.push((
                    safe_write::prepare_private(&f.path, bytes, file_mode)?,
                    Some(bytes.clone()),
                ));
            }
            SysChange::Delete => {
                out.push((safe_write::prepare_removal(&f.path)?, None));
            }
        }
    }
    Ok(out)
}

/// The credential store at the edit pipeline's stages: [`Store::before`]
/// (the config as loaded), [`Store::after`] (the edited config), then,
/// for an edit that is written, [`StoreEdit::before_commit`],
/// [`StoreEdit::prepare`] and [`StoreEdit::committed`].
pub(super) struct Store {
    /// The credentials the config read before the edit.
    refs_before: BTreeMap<String, ReadAt>,
    /// Where the edited component's secret was before the edit.
    state_before: SecretState,
    /// Notes of the scrubs a kill left pending, finished under the lock.
    notes: Vec<Note>,
}

/// A string secret leaving the config, and the credential it goes to.
type Leaving = (Vec<u8>, String);

/// The credential store's part of one edit, once the edited config is known.
pub(super) struct StoreEdit {
    /// Our files outside the config, in step with the edited config.
    system: Vec<SysFile>,
    /// Those files as the outcome reports them, described before the commit
    /// (which would make every `.cred` read as replaced).
    pub(crate) files: Vec<SysFileChange>,
    /// The edited component's secret is a string in the edited config.
    pub(crate) literal_after: bool,
    /// Notes so far (the pending scrubs finished before the plan).
    pub(crate) notes: Vec<Note>,
    /// A string secret that leaves the config for a credential, which the
    /// backups must then not keep.
    scrub: Option<Leaving>,
    /// The credential holds a new string, not the one that left.
    rotated: bool,
    /// Which way the secret moved, as the edit record says.
    pub(crate) moved: Option<&'static str>,
    /// The old string, encrypted beside the backups (a rotation's).
    pub(crate) old_secret: Option<String>,
    /// A new or rotated credential, or one the drop-in newly loads.
    changed: bool,
}

impl Store {
    /// Before the plan: a scrub a kill interrupted is finished first
    /// (under the lock; a dry run does not), and what the config reads now
    /// is kept, to compare with the edited config.
    pub(super) fn before(ctx: &Context, set: &ConfigSet, name: &str, dry_run: bool) -> Store {
        let notes = match dry_run {
            true => Vec::new(),
            false => finish_pending_scrubs(ctx, set),
        };
        Store {
            refs_before: referenced(set),
            state_before: secret_state(set, name),
            notes,
        }
    }

    /// The edited config `after`: our files made to agree with it
    /// ([`sync`]), and what the secret's move asks of the commit. A string
    /// secret that leaves the config for a credential is a move when the
    /// credential holds that very string (an undo decrypts it back), a
    /// rotation when it holds a new one (the old string is then kept
    /// encrypted beside the backups, for the undo).
    pub(super) fn after(
        self,
        ctx: &Context,
        name: &str,
        after: &ConfigSet,
        planned: Vec<SysFile>,
    ) -> Result<StoreEdit, Error> {
        let system = sync(ctx, &self.refs_before, after, planned)?;
        let state_after = secret_state(after, name);
        let changed = system.iter().any(|f| match f.kind {
            SysKind::Credential => matches!(f.change, SysChange::Write(_)),
            SysKind::DropIn => loads_more(f),
        });
        let (moved, scrub, rotated) = match (self.state_before, &state_after) {
            (SecretState::Literal(s), SecretState::Ours(c)) => {
                let is_move = holds(&system, c, &s);
                (
                    is_move.then_some("to-credential"),
                    Some((s, c.clone())),
                    !is_move,
                )
            }
            (SecretState::Ours(_), SecretState::Literal(_)) => (Some("to-config"), None, false),
            _ => (None, None, false),
        };
        Ok(StoreEdit {
            changed,
            literal_after: matches!(state_after, SecretState::Literal(_)),
            notes: self.notes,
            files: system.iter().map(SysFile::describe).collect(),
            system,
            scrub,
            rotated,
            moved,
            old_secret: None,
        })
    }
}

impl StoreEdit {
    /// A credential prosody reads changed: a restart, unless a reload
    /// refreshes it. Asked when the outcome is made: after the commit, that
    /// is after the drop-in's daemon-reload.
    pub(super) fn restart_needed(&self) -> bool {
        self.changed && credentials::reload_refreshes().is_err()
    }

    /// Before the commit that makes the backups hold the old string: a
    /// scrub is marked, so a kill before it is done is finished by the next
    /// edit; a rotation's old string is kept encrypted first.
    pub(super) fn before_commit(&mut self, ctx: &Context, main_real: &Path) -> Result<(), Error> {
        let backups = safe_write::Backups {
            dir: ctx.settings.backup_dir.clone(),
            keep: ctx.settings.backups,
        };
        let (Some((old, cred)), true) = (&self.scrub, backups.keep > 0) else {
            return Ok(());
        };
        if self.rotated {
            let sealed = credentials::encrypt(cred, old)?;
            self.old_secret = Some(safe_write::write_old_secret(&backups, main_real, &sealed)?);
        }
        mark_scrub(&backups, cred)?;
        Ok(())
    }

    /// Our files prepared (see [`prepare`]), in the two groups renamed
    /// before and after the config's files: the order that is safe if we
    /// are killed between two renames. New credentials and the drop-in
    /// that loads them go first, the credentials the config no longer
    /// reads last (an extra credential is harmless; a missing one keeps
    /// prosody from starting).
    pub(super) fn prepare(
        &self,
        ctx: &Context,
    ) -> Result<(Vec<PreparedSys>, Vec<PreparedSys>), Error> {
        let (mut first, mut last) = (Vec::new(), Vec::new());
        for (p, f) in prepare(ctx, &self.system)?.into_iter().zip(&self.system) {
            let before_config = match (f.kind, &p.1) {
                (_, None) => false,
                (SysKind::Credential, Some(_)) => true,
                // The drop-in goes first when it loads a credential it did not
                // (the config is about to read it), last when it only drops some.
                (SysKind::DropIn, Some(_)) => loads_more(f),
            };
            match before_config {
                true => first.push(p),
                false => last.push(p),
            }
        }
        Ok((first, last))
    }

    /// After the commit: systemd reads a changed drop-in at daemon-reload
    /// (then at prosody's next start), and the old string, now only in
    /// backups, is scrubbed there. Returns notes.
    pub(super) fn committed(&mut self, ctx: &Context, after: &ConfigSet) -> Vec<Note> {
        let mut notes = Vec::new();
        let drop_in_changed = self.system.iter().any(|f| f.kind == SysKind::DropIn);
        if drop_in_changed && crate::system::service::systemd_running() {
            if let Err(e) = crate::system::service::daemon_reload() {
                notes.push(Note::DropInNotReloaded {
                    drop_in: ctx.settings.credentials_drop_in.clone(),
                    error: e.to_string(),
                });
            }
        }
        if let Some((secret, cred)) = self.scrub.take() {
            let left = scrub(ctx, &secret, &cred, after);
            if left.is_empty() {
                scrub_done(&ctx.settings.backup_dir, &cred);
            }
            notes.extend(left);
        }
        notes
    }
}

/// Whether this edit's drop-in loads a credential the one on disk does not.
fn loads_more(f: &SysFile) -> bool {
    let SysChange::Write(new) = &f.change else {
        return false;
    };
    let old = std::fs::read_to_string(&f.path).unwrap_or_default();
    let old = credentials::parse_drop_in(&old);
    credentials::parse_drop_in(&String::from_utf8_lossy(new))
        .iter()
        .any(|l| !old.contains(l))
}

/// Whether this edit's new credential `cred` holds `secret` (decrypted in
/// memory; a dry run writes no credential, so it never does).
fn holds(system: &[SysFile], cred: &str, secret: &[u8]) -> bool {
    system.iter().any(|f| {
        f.kind == SysKind::Credential
            && f.path.file_stem().is_some_and(|n| n == cred)
            && matches!(&f.change, SysChange::Write(b)
                if !b.is_empty() && credentials::decrypt_bytes(cred, b).is_ok_and(|p| p == secret))
    })
}

/// Whether any string literal of `text` reads as `secret`.
fn holds_literal(text: &[u8], secret: &[u8]) -> bool {
    let mut lx = lexer::Lexer::new(text);
    while let Ok(t) = lx.next_token() {
        match t.kind {
            Tok::Eof | Tok::Error => break,
            Tok::Str if lexer::decode_string(&text[t.span.clone()]) == secret => return true,
            _ => {}
        }
    }
    false
}

/// `text` with every string literal that reads as `secret` replaced by
/// `with` (the rest of a file that stops lexing is left as it is).
fn replace_literals(text: &[u8], secret: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    let mut lx = lexer::Lexer::new(text);
    while let Ok(t) = lx.next_token() {
        match t.kind {
            Tok::Eof | Tok::Error => break,
            Tok::Str if lexer::decode_string(&text[t.span.clone()]) == secret => {
                out.extend_from_slice(&text[last..t.span.start]);
                out.extend_from_slice(with);
                last = t.span.end;
            }
            _ => {}
        }
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// Prefix of a pending-scrub marker in the backup directory; the rest of
/// its name is the credential whose secret the backups may still hold.
const SCRUB_PENDING: &str = "fogbow-xmpp-ctl.scrub-pending.";

/// Marks, before a move's commit, that the backups of the config may hold
/// the secret of credential `cred` in plaintext until they are scrubbed:
/// removed by [`scrub_done`]; one a kill left behind is found by
/// [`pending_scrubs`] and finished by the next edit.
fn mark_scrub(b: &safe_write::Backups, cred: &str) -> Result<(), Error> {
    let marker = format!("{SCRUB_PENDING}{cred}");
    Ok(safe_write::put_marker(
        b,
        &marker,
        "mark a pending scrub in",
    )?)
}

/// The credentials whose scrub a marker says is still to do.
fn pending_scrubs(dir: &Path) -> Vec<String> {
    safe_write::markers(dir, SCRUB_PENDING)
}

/// The scrub for `cred` is done: its marker goes.
fn scrub_done(dir: &Path, cred: &str) {
    safe_write::remove_marker(dir, &format!("{SCRUB_PENDING}{cred}"));
}

/// Finishes the scrubs a kill (or a failure) left pending: each marked
/// credential is decrypted (root) and [`scrub`] runs again; its marker goes
/// once nothing is left to report. Returns notes.
fn finish_pending_scrubs(ctx: &Context, set: &ConfigSet) -> Vec<Note> {
    let dir = &ctx.settings.backup_dir;
    let mut notes = Vec::new();
    for cred in pending_scrubs(dir) {
        let path = credentials::cred_path_in(&ctx.settings.credentials_dir, &cred);
        let Ok(secret) = credentials::decrypt(&cred, &path) else {
            // Its credential is gone (or not ours to read): nothing can say
            // which string to look for; the marker stays for root.
            continue;
        };
        let left = scrub(ctx, &secret, &cred, set);
        if left.is_empty() {
            scrub_done(dir, &cred);
        }
        notes.extend(left);
    }
    notes
}

/// After a component's secret moved from the config into credential
/// `cred`: every backup that holds it as a string gets `Credential("cred")`
/// in its place (a backup that still holds it otherwise, say in a
/// comment, is deleted), and each edit record's hash of such a backup's
/// bytes follows, so `restore --undo` keeps working. Not done while the
/// live config still holds the secret as a string (another component's):
/// then it is not a secret the backups alone hold. Returns notes.
fn scrub(ctx: &Context, secret: &[u8], cred: &str, after: &ConfigSet) -> Vec<Note> {
    if after
        .files
        .iter()
        .any(|f| holds_literal(f.doc.text(), secret))
    {
        return Vec::new();
    }
    let dir = &ctx.settings.backup_dir;
    let mut notes = Vec::new();
    let main = after.files[0].real_path.clone();
    let (backups, records) = match safe_write::backups_and_records_of(dir, &main) {
        Ok(v) => v,
        Err(e) => {
            return vec![Note::BackupsNotScrubbed {
                error: e.to_string(),
            }]
        }
    };
    let expr = credentials::expression(cred);
    let mut rehash: BTreeMap<String, String> = BTreeMap::new();
    for b in backups {
        let Ok(bytes) = safe_write::read_backup(&b) else {
            continue;
        };
        let new = replace_literals(&bytes, secret, expr.as_bytes());
        if new == bytes && !text::contains(&bytes, secret) {
            continue;
        }
        let result = if text::contains(&new, secret) {
            std::fs::remove_file(&b).map_err(|e| e.to_string())
        } else {
            safe_write::rewrite_backup(&b, &new)
                .map(|()| {
                    rehash.insert(
                        safe_write::content_hash(&bytes),
                        safe_write::content_hash(&new),
                    );
                })
                .map_err(|e| e.to_string())
        };
        if let Err(e) = result {
            notes.push(Note::BackupNotScrubbed {
                backup: b.clone(),
                cred: cred.to_string(),
                error: e,
            });
        }
    }
    rehash_records(&records, &rehash, &mut notes);
    notes
}

/// Each edit record's hash of a backup's bytes follows the scrub that
/// rewrote it (`rehash`: old hash to new), so `restore --undo` keeps working.
fn rehash_records(records: &[PathBuf], rehash: &BTreeMap<String, String>, notes: &mut Vec<Note>) {
    for r in records {
        let Ok(bytes) = safe_write::read_backup(r) else {
            continue;
        };
        let Ok(mut rec) = serde_json::from_slice::<safe_write::EditRecord>(&bytes) else {
            continue;
        };
        let mut changed = false;
        for f in &mut rec.files {
            if let Some(new) = f.written_sha1.as_ref().and_then(|h| rehash.get(h)) {
                f.written_sha1 = Some(new.clone());
                changed = true;
            }
        }
        if changed {
            let text = serde_json::to_vec_pretty(&rec).expect("serialisable");
            if let Err(e) = safe_write::rewrite_backup(r, &text) {
                notes.push(Note::RecordNotUpdated {
                    record: r.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_found_and_replaced_by_value_not_spelling() {
        let text = b"a = \"s\\x33cret\" -- s3cret\nb = 's3cret'\nc = [[other]]\n";
        assert!(holds_literal(text, b"s3cret"));
        assert!(!holds_literal(text, b"other "));
        let out = replace_literals(text, b"s3cret", b"Credential(\"x\")");
        assert_eq!(
            out,
            b"a = Credential(\"x\") -- s3cret\nb = Credential(\"x\")\nc = [[other]]\n".to_vec()
        );
        // A comment still holds it: such a backup is deleted, not kept.
        assert!(crate::text::contains(&out, b"s3cret"));
    }

    #[test]
    fn the_placeholder_becomes_the_expression() {
        let lit = lexer::encode_string(MARK);
        let text = format!("Component \"a\"\n\tcomponent_secret = {lit}\n").into_bytes();
        assert_eq!(
            swap_mark(text, "fogbow-xmpp-ctl.a"),
            b"Component \"a\"\n\tcomponent_secret = Credential(\"fogbow-xmpp-ctl.a\")\n".to_vec()
        );
    }
}
