//! `check`: the static rules of [`crate::diagnostics`] over the config
//! and everything it includes, the secrets behind its references read as
//! prosody will read them, and (unless told not to) the config loaded by
//! the installed prosody's own configmanager, which runs as a subprocess
//! while the static pass works.

use std::path::{Path, PathBuf};

use crate::diagnostics::{
    check, from_load_errors, from_prosody_verdict, secret_refs, CheckOptions, Code, Diagnostic,
    Note, Report, Severity, Subject,
};
use crate::prosody::config::ConfigSet;
use crate::system::secret_refs::Resolver;

/// Checks the config at `main` and everything it includes, with the
/// prosody whose modules are in `prosody_lib` (the setting). Reads only:
/// it runs as the `prosody` user before every start, without a lock.
pub fn check_config(main: &Path, prosody_lib: &Path, opts: CheckOptions) -> Report {
    let mut notes = Vec::new();
    let prosody = opts
        .with_prosody
        .then(|| crate::system::loader::Installed::find(prosody_lib));
    let loaded = ConfigSet::load(main);
    // prosody 13's Credential()/FileContents() are read as prosody will
    // read them; prosody 0.12 has neither, and its loader says so.
    let helpers = match &prosody {
        Some(Some(p)) => p.has_credentials(),
        _ => true,
    };
    let mut resolver = Resolver::from_env();
    // Outside the unit, prosody's loader sees the credentials the unit
    // would give it (decrypted into memory), so that it judges the config
    // as prosody will at the next start.
    let served = match &loaded {
        Ok(set) if helpers && secret_refs::uses_credentials(set) => resolver.served(),
        _ => None,
    };
    // prosody's loader is started before the static pass and works while
    // it runs: `check` then costs about what the loader alone costs.
    let unit_dir = resolver.unit_dir().map(Path::to_path_buf);
    let credentials = match (&served, &unit_dir) {
        (Some(s), _) => crate::system::loader::Credentials::Served(s),
        (None, Some(d)) => crate::system::loader::Credentials::Directory(d),
        (None, None) => crate::system::loader::Credentials::Environment,
    };
    let loading = match &prosody {
        Some(Some(p)) => Some(p.start_serving(main, &[], credentials)),
        _ => None,
    };
    drop(served);
    let (files, mut diagnostics): (Vec<PathBuf>, _) = match loaded {
        Err(e) => (vec![main.to_path_buf()], from_load_errors(&e)),
        Ok(set) => {
            let files = set.files.iter().map(|f| f.path.clone()).collect();
            for at in &set.unresolved_includes {
                let f = &set.files[at.file];
                let (l, _) = f.doc.line_col(f.doc.stmt_span(at.stmt).start);
                notes.push(Note::IncludeComputed {
                    file: f.path.clone(),
                    line: l,
                });
            }
            let mut found = check(&set);
            if helpers {
                found.extend(secret_refs::check(&set, &mut resolver));
            }
            (files, found)
        }
    };
    let has_errors = |ds: &[Diagnostic]| ds.iter().any(|d| d.severity == Severity::Error);
    // Our own errors already make the verdict; prosody's loader would only
    // repeat them (dropping a load in progress stops it).
    if opts.with_prosody && !has_errors(&diagnostics) {
        match loading {
            None => notes.push(Note::ProsodyNotInstalled),
            Some(l) => match l.and_then(crate::system::loader::Loading::wait) {
                Ok(v) => diagnostics.extend(from_prosody_verdict(main, &files, v)),
                Err(e) => diagnostics.push(loader_failed(main, e.to_string())),
            },
        }
    }
    if opts.strict {
        for d in &mut diagnostics {
            d.severity = Severity::Error;
        }
    }
    Report {
        ok: !has_errors(&diagnostics),
        files,
        diagnostics,
        notes,
    }
}

/// prosody's loader could not be run (or gave no verdict): an error on the
/// main config, with the way to check without it.
fn loader_failed(main: &Path, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: Code::ProsodyLoad,
        subject: Subject::File(main.to_path_buf()),
        file: main.to_path_buf(),
        line: 0,
        column: 0,
        message,
        help: Some("use --no-prosody to check without prosody's loader".into()),
        refs: Vec::new(),
    }
}
