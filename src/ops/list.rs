//! `list`: the components of the config and its includes as a static
//! reading finds them, with notes on what such a reading cannot follow.
//! A broken config is listed as far as it parses (see `reading`).

use std::path::PathBuf;

use serde::Serialize;

use super::reading::{self, Breakage};
use super::Context;
use crate::diagnostics::{self, Note};
use crate::error::Error;
use crate::prosody::config::{ConfigSet, Host};

/// One component, as `list` shows it; the JSON form is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// The name, or the source text of the expression that computes it.
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) name_is_expression: bool,
    /// `"component"` for an external component, else the plugin module.
    pub module: String,
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    pub line: usize,
    pub(crate) secret_set: bool,
    /// `"literal"`, `"expression"` (any expression, prosody 13's
    /// `Credential()`/`FileContents()` included: the value scripts have always
    /// seen for them), `"global"` (no block of the component sets one: prosody
    /// gives it the global section's, at [`ComponentInfo::secret_inherited_from`])
    /// or `"none"`.
    pub secret_source: &'static str,
    /// With `"global"`: `FILE:LINE` of the global `component_secret` prosody
    /// uses for this component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_inherited_from: Option<String>,
    /// Where prosody 13 reads the secret from, for `Credential("NAME")` and
    /// `FileContents`/`FileLine`/`FileLines("PATH")`: `{"kind":
    /// "Credential", "name": …}` or `{"kind": "FileContents", "path": …}`
    /// (the path as written: prosody resolves it against the directory of
    /// the file that names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRefInfo>,
    /// Only with `--show-secrets`: the literal, or the expression's source text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// This block's component_secret is dead text: a later block of the same
    /// component sets another, and prosody uses the last one set. Present
    /// only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_overridden: bool,
}

/// A reference to a secret kept elsewhere; names a credential or a file,
/// never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRefInfo {
    /// `Credential`, `FileContents`, `FileLine` or `FileLines`.
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl SecretRefInfo {
    fn of(r: &crate::document::SecretRef) -> SecretRefInfo {
        let arg = String::from_utf8_lossy(&r.arg).into_owned();
        let credential = r.kind == crate::document::SecretRefKind::Credential;
        SecretRefInfo {
            kind: r.kind.as_str(),
            name: credential.then(|| arg.clone()),
            path: (!credential).then_some(arg),
        }
    }
}

/// What `list` found; its JSON form (with the notes worded) is the binary's.
#[derive(Debug, Clone)]
pub struct ListOutput {
    pub config: PathBuf,
    pub components: Vec<ComponentInfo>,
    /// Things a static reading cannot follow (computed Include paths,
    /// Component calls inside blocks), with file:line.
    pub notes: Vec<Note>,
    /// A config that does not load is listed as far as it parses (or from
    /// its last good backup): `"broken"`, `"source"`, … (see [`Breakage`]).
    pub breakage: Breakage,
}

pub fn list(ctx: &Context, show_secrets: bool) -> Result<ListOutput, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let mut components: Vec<ComponentInfo> = set
        .hosts()
        .filter(|h| h.kind == crate::document::SectionKind::Component)
        .map(|h| component_info(&set, &h, show_secrets))
        .collect();
    let mut notes = Vec::new();
    overridden_secrets(&mut components, &mut notes);
    inherited_secrets(&set, &mut components, show_secrets);
    unlisted_notes(&set, &mut notes);
    Ok(ListOutput {
        config: ctx.config.clone(),
        components,
        notes,
        breakage,
    })
}

/// The block `h` of a Component as `list` shows it.
fn component_info(set: &ConfigSet, h: &Host, show_secrets: bool) -> ComponentInfo {
    let f = &set.files[h.at.file];
    let name = match h.literal_name() {
        Some(n) => n,
        None => f.doc.slice(&h.name().span),
    };
    let module = match h.module() {
        None => "component".to_string(),
        Some(m) => m
            .literal()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_else(|| f.doc.slice(&m.span)),
    };
    let secret_ref = h.secret().and_then(|s| s.secret_ref());
    let (source, secret) = match h.secret() {
        None => ("none", None),
        Some(s) => match s.literal() {
            Some(l) => ("literal", Some(String::from_utf8_lossy(&l).into_owned())),
            // `secret_ref` says which helper; the value stays the one
            // scripts know (a JSON value is never renamed).
            None => ("expression", Some(f.doc.slice(&s.span))),
        },
    };
    ComponentInfo {
        name,
        name_is_expression: !h.name().is_literal(),
        module,
        file: f.path.clone(),
        line: h.line(),
        secret_set: h.secret().is_some(),
        secret_source: source,
        secret_inherited_from: None,
        secret_ref: secret_ref.as_ref().map(SecretRefInfo::of),
        secret: if show_secrets { secret } else { None },
        secret_overridden: false,
    }
}

/// What a static reading cannot follow: code that may set a secret, an
/// Include with a computed path, a Component call inside a block.
fn unlisted_notes(set: &ConfigSet, notes: &mut Vec<Note>) {
    // The SECRET column is what a static reading finds; say where code may
    // set another.
    if let Some(o) = diagnostics::secret_opaque_anywhere(set) {
        notes.push(Note::SecretsMayDiffer { opaque: o });
    }
    for h in set.hosts() {
        if let Some(o) = diagnostics::secret_opaque_in(set, &h) {
            notes.push(Note::SecretOpaque { opaque: o });
        }
    }
    for at in &set.unresolved_includes {
        let f = &set.files[at.file];
        let (l, _) = f.doc.line_col(f.doc.stmt_span(at.stmt).start);
        notes.push(Note::IncludeNotListed {
            file: f.path.clone(),
            line: l,
        });
    }
    for f in &set.files {
        for span in f.doc.nested_calls() {
            let callee = f.doc.slice(&span);
            if matches!(
                callee.as_str(),
                "Component" | "component" | "VirtualHost" | "Host" | "host" | "Include" | "include"
            ) {
                let (l, _) = f.doc.line_col(span.start);
                notes.push(Note::CallInBlock {
                    file: f.path.clone(),
                    line: l,
                    callee,
                });
            }
        }
    }
}

/// Marks each block whose secret a later block of the same component
/// (as prosody compares names) replaces, with a note naming the block
/// whose secret prosody uses: one component, two secrets is the mistake
/// that makes a component fail authentication with the first one.
fn overridden_secrets(components: &mut [ComponentInfo], notes: &mut Vec<Note>) {
    let folded: Vec<Option<Vec<u8>>> = components
        .iter()
        .map(|c| {
            (!c.name_is_expression)
                .then(|| crate::prosody::names::fold(c.name.as_bytes()).into_owned())
        })
        .collect();
    for i in 0..components.len() {
        let Some(name) = &folded[i] else { continue };
        if !components[i].secret_set {
            continue;
        }
        let last = (i + 1..components.len())
            .rev()
            .find(|&j| folded[j].as_ref() == Some(name) && components[j].secret_set);
        if let Some(j) = last {
            components[i].secret_overridden = true;
            notes.push(Note::SecretOverridden {
                name: components[i].name.clone(),
                used: (components[j].file.clone(), components[j].line),
                unused: (components[i].file.clone(), components[i].line),
            });
        }
    }
}

/// Marks each external component none of whose blocks sets a
/// `component_secret` as using the global section's, where there is one:
/// prosody looks an option up in the host's section, then in the global one.
fn inherited_secrets(
    set: &crate::prosody::config::ConfigSet,
    components: &mut [ComponentInfo],
    show_secrets: bool,
) {
    let Some(global) = set.global_secret() else {
        return;
    };
    let f = &set.files[global.file];
    let (line, _) = f.doc.line_col(global.value.span.start);
    let at = format!("{}:{line}", f.path.display());
    let secret = match global.value.literal() {
        Some(l) => String::from_utf8_lossy(&l).into_owned(),
        None => f.doc.slice(&global.value.span),
    };
    let secret_ref = global.value.secret_ref();
    let fold = |c: &ComponentInfo| crate::prosody::names::fold(c.name.as_bytes()).into_owned();
    let with_secret: std::collections::HashSet<Vec<u8>> = components
        .iter()
        .filter(|c| c.secret_set && !c.name_is_expression)
        .map(fold)
        .collect();
    for c in components.iter_mut() {
        if c.secret_set || c.name_is_expression || c.module != "component" {
            continue;
        }
        if with_secret.contains(&fold(c)) {
            continue;
        }
        c.secret_source = "global";
        c.secret_inherited_from = Some(at.clone());
        c.secret_ref = secret_ref.as_ref().map(SecretRefInfo::of);
        c.secret = show_secrets.then(|| secret.clone());
    }
}
