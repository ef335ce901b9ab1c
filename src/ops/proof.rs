//! An edit of a config whose code can set options beyond a static reading
//! (`require`, `dofile`, `rawset`, a computed key, …) is proved with
//! prosody's own loader: loaded before and after the edit (the edited files
//! read from their temp files), prosody must read exactly the
//! `component_secret` we wrote for the edited component (or no component
//! at all after a removal), and every other option of every host must be
//! unchanged. The edit is refused only when that proof cannot be made
//! (prosody is not installed, its loader cannot be run) or fails; the
//! refusal says which.

use std::path::Path;

use super::Action;
use crate::diagnostics::{self, Opaque};
use crate::error::refusal::{Refusal, Unproven};
use crate::error::Error;
use crate::prosody::config::ConfigSet;
use crate::prosody::Verdict;
use crate::system::loader::{Installed, LoadedOptions};

/// Where the config can set a `component_secret` a static reading cannot
/// see, for an edit of `name`: then the edit needs the proof.
pub(super) fn needed(set: &ConfigSet, name: &str) -> Option<Opaque> {
    diagnostics::secret_opaque_anywhere(set).or_else(|| {
        set.hosts_named(name)
            .iter()
            .find_map(|h| diagnostics::secret_opaque_in(set, h))
    })
}

/// Proves an `add`/`remove` of `name` (see the module's comment): `after`
/// is the edited config as we read it, `overlay` the edited files' temp
/// files; `prosody` the installed one (`None`: not installed).
pub(super) fn prove(
    prosody: Option<&Installed>,
    main: &Path,
    overlay: &[(&Path, &Path)],
    after: &ConfigSet,
    (action, name): (Action, &str),
    why: &Opaque,
) -> Result<(), Error> {
    let refuse = |failure: Unproven| {
        Error::refused(Refusal::Unproven {
            why: why.to_string(),
            name: name.to_string(),
            failure,
        })
    };
    let Some(prosody) = prosody else {
        return Err(refuse(Unproven::NotInstalled));
    };
    let load = |overlay: &[(&Path, &Path)], which: &'static str| match prosody
        .options_with(main, overlay)
    {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(Verdict::Fails { message, .. })) => {
            Err(refuse(Unproven::Refuses { which, message }))
        }
        Ok(Err(Verdict::Loads)) => unreachable!("a load that loads has options"),
        Err(e) => Err(refuse(Unproven::NotRun(e.to_string()))),
    };
    let before = load(&[], "current")?;
    let edited = load(overlay, "edited")?;
    let host = LoadedOptions::escape(&crate::prosody::names::fold(name.as_bytes()));
    if let Some(what) = other_change(&before, &edited, &host) {
        return Err(refuse(Unproven::AlsoChanges(what)));
    }
    if action == Action::Removed {
        return match edited.0.keys().any(|(h, _)| *h == host) {
            false => Ok(()),
            true => Err(refuse(Unproven::StillFound)),
        };
    }
    let key = |h: &[u8]| (h.to_vec(), b"component_secret".to_vec());
    let uses = |o: &LoadedOptions| {
        o.0.get(&key(&host))
            .or_else(|| o.0.get(&key(b"*")))
            .cloned()
    };
    let Some(written) = after
        .effective_secret(&after.hosts_named(name))
        .and_then(|(v, _, _)| v.literal())
    else {
        return Err(refuse(Unproven::NotLiteral));
    };
    let written = [&b"\""[..], &LoadedOptions::escape(&written), b"\""].concat();
    if uses(&edited).as_deref() != Some(&written[..]) {
        return Err(refuse(Unproven::OtherSecret));
    }
    if action == Action::Added && before.0.contains_key(&key(&host)) {
        return Err(refuse(Unproven::AlreadySet));
    }
    Ok(())
}

/// The first option the edit changes that is not `host`'s: its host and
/// name, as text. Of `host` itself, only `component_secret` may change,
/// or, for a host the edit creates (or removes), every option.
fn other_change(before: &LoadedOptions, after: &LoadedOptions, host: &[u8]) -> Option<String> {
    let exists = |o: &LoadedOptions| o.0.keys().any(|(h, _)| h == host);
    let whole_host = !exists(before) || !exists(after);
    let keys = before.0.keys().chain(after.0.keys());
    keys.filter(|(h, n)| h != host || !(whole_host || n.as_slice() == b"component_secret"))
        .find(|k| before.0.get(*k) != after.0.get(*k))
        .map(|(h, n)| {
            let h = String::from_utf8_lossy(h);
            let n = String::from_utf8_lossy(n);
            match h.as_ref() {
                "*" => format!("the global option {n}"),
                _ => format!("the option {n} of {h}"),
            }
        })
}
