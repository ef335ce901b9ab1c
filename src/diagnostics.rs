//! The checks: each finding has a code (part of the contract), a severity,
//! and the file, line and column it is about, in compiler style.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::{ConfigSet, Host, LoadError};
use crate::document::{OpaqueKind, SectionKind, Span, Statement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    #[serde(serialize_with = "crate::config::json_path::one")]
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    /// `FILE:LINE:COLUMN: error[CODE]: message`, then `help: …` on its own
    /// line; control characters from the config (in a path, a name) escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Line 0 means "no position" (an unreadable file, a load error
        // prosody reports without a line): `FILE:0:0:` would send an editor
        // to a place that does not exist, so only the file is named.
        write!(f, "{}:", terminal_safe(&self.file.display().to_string()))?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column.max(1))?;
        }
        write!(f, " {sev}[{}]: {}", self.code, terminal_safe(&self.message))?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {}", terminal_safe(h))?;
        }
        Ok(())
    }
}

/// Whether a terminal would act on `c` rather than show it: C0 and C1
/// controls, DEL, and the bidirectional marks, embeddings, overrides and
/// isolates (which reorder what follows them on the line).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` for a terminal: every character a terminal would act on (escape
/// sequences that retitle or clear it, a carriage return that hides the
/// line, a right-to-left override) written as `\u{…}`. Names and paths
/// from a config are data; human output must show them, not run them.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(acts_on_terminal) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if acts_on_terminal(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A message from Lua (prosody's loader) without the text of a string
/// token: Lua says `near '"S"'` (or `near '[[S'`), and S may be a secret.
pub fn without_string_tokens(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("near '") {
        let (before, after) = rest.split_at(i + "near ".len());
        out.push_str(before);
        let token = &after[1..];
        let is_string = token.starts_with('"')
            || token.starts_with('\'')
            || token.starts_with("[[")
            || token.starts_with("[=");
        if !is_string {
            out.push('\'');
            rest = token;
            continue;
        }
        out.push_str("<string>");
        // The token ends at the last quote of the line: a string's own text
        // may hold quotes.
        let line_end = token.find('\n').unwrap_or(token.len());
        rest = match token[..line_end].rfind('\'') {
            Some(q) if q > 0 => &token[q + 1..],
            _ => &token[line_end..],
        };
    }
    out.push_str(rest);
    out
}

/// Options prosody reads only from the global section (from prosody 0.12's
/// `util/prosodyctl/check.lua`, `known_global_options`); the patterns it adds
/// (`*_ports`, `*_interfaces`, …) are in [`global_only`].
const GLOBAL_OPTIONS: &[&str] = &[
    "access_control_allow_credentials",
    "access_control_allow_headers",
    "access_control_allow_methods",
    "access_control_max_age",
    "admin_socket",
    "body_size_limit",
    "bosh_max_inactivity",
    "bosh_max_polling",
    "bosh_max_wait",
    "buffer_size_limit",
    "c2s_close_timeout",
    "c2s_stanza_size_limit",
    "c2s_tcp_keepalives",
    "c2s_timeout",
    "component_stanza_size_limit",
    "component_tcp_keepalives",
    "consider_bosh_secure",
    "consider_websocket_secure",
    "console_banner",
    "console_prettyprint_settings",
    "daemonize",
    "data_path",
    "gc",
    "http_default_host",
    "http_errors_always_show",
    "http_errors_default_message",
    "http_errors_detailed",
    "http_errors_messages",
    "http_max_buffer_size",
    "http_max_content_size",
    "installer_plugin_path",
    "limits",
    "limits_resolution",
    "log",
    "multiplex_buffer_size",
    "network_backend",
    "network_default_read_size",
    "network_settings",
    "openmetrics_allow_cidr",
    "openmetrics_allow_ips",
    "pidfile",
    "plugin_paths",
    "plugin_server",
    "prosodyctl_timeout",
    "prosody_group",
    "prosody_user",
    "run_as_root",
    "s2s_close_timeout",
    "s2s_insecure_domains",
    "s2s_require_encryption",
    "s2s_secure_auth",
    "s2s_secure_domains",
    "s2s_stanza_size_limit",
    "s2s_tcp_keepalives",
    "s2s_timeout",
    "statistics",
    "statistics_config",
    "statistics_interval",
    "tcp_keepalives",
    "tls_profile",
    "trusted_proxies",
    "umask",
    "use_dane",
    "use_ipv4",
    "use_ipv6",
    "websocket_frame_buffer_limit",
    "websocket_frame_fragment_limit",
    "websocket_get_response_body",
    "websocket_get_response_text",
];

/// Whether prosody reads `option` only from the global section.
pub fn global_only(option: &str) -> bool {
    if matches!(option, "external_service_port" | "turn_external_port") {
        return false;
    }
    GLOBAL_OPTIONS.contains(&option)
        || option.starts_with("interface")
        || option == "local_interfaces"
        || option.ends_with("_port")
        || option.ends_with("_ports")
        || option.ends_with("_interface")
        || option.ends_with("_interfaces")
        || (option.ends_with("_ssl") && option != "c2s_ssl" && option != "s2s_ssl")
}

/// Placeholders from the Fogbow install guide that must not reach production.
const PLACEHOLDER_SECRETS: &[&str] = &["manager_password", "rendezvous_password"];

/// A `component_secret` too short to resist guessing, or a guide placeholder.
pub fn weak_secret(secret: &[u8]) -> bool {
    secret.len() < 16 || PLACEHOLDER_SECRETS.iter().any(|p| p.as_bytes() == secret)
}

/// A config that cannot be loaded, as one diagnostic.
pub fn from_load_error(e: &LoadError) -> Diagnostic {
    match e {
        LoadError::Syntax { path, error } => Diagnostic {
            severity: Severity::Error,
            code: "syntax",
            file: path.clone(),
            line: error.line,
            column: error.column,
            message: error.message.clone(),
            help: error.help.clone(),
        },
        LoadError::Unreadable { path, from: Some((file, line, column)), message, kind } => Diagnostic {
            severity: Severity::Error,
            code: "include-missing",
            file: file.clone(),
            line: *line,
            column: *column,
            message: format!("cannot read the included {}: {message}", path.display()),
            help: Some(if *kind == std::io::ErrorKind::NotFound {
                "prosody refuses to start when a named Include is missing; fix the path or remove the line"
            } else {
                "fix the file or remove the Include line"
            }.into()),
        },
        LoadError::Unreadable { path, from: None, message, kind } => Diagnostic {
            severity: Severity::Error,
            code: "unreadable",
            file: path.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read {}: {message}", path.display()),
            help: (*kind == std::io::ErrorKind::PermissionDenied).then(|| "run with sudo, or as a user who may read it".into()),
        },
        LoadError::IncludeTooDeep { path, from: (file, line, column) } => Diagnostic {
            severity: Severity::Error,
            code: "include-loop",
            file: file.clone(),
            line: *line,
            column: *column,
            message: format!("including {} nests Includes more than {} deep; prosody fails with \"C stack overflow\" at about 196", path.display(), crate::config::MAX_INCLUDE_DEPTH),
            help: None,
        },
        LoadError::IncludeLoop { path, from: (file, line, column) } => Diagnostic {
            severity: Severity::Error,
            code: "include-loop",
            file: file.clone(),
            line: *line,
            column: *column,
            message: format!("{} is included again while it is being loaded; prosody would recurse until it fails", path.display()),
            help: None,
        },
    }
}

/// A place where the config sets options beyond a static reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// What is there and why it cannot be followed (no config text but names).
    pub why: String,
}

impl std::fmt::Display for Opaque {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.why
        )
    }
}

/// Why code at `span` (a name) of file `fi` sets options beyond a static reading.
fn opaque_why(set: &ConfigSet, fi: usize, span: &Span, kind: OpaqueKind) -> Opaque {
    let f = &set.files[fi];
    let name = f.doc.slice(span);
    let why = match kind {
        OpaqueKind::NestedAssign => format!("'{name}' is set inside a block or function (or by a `function` statement): prosody sets it in whichever section is current when that code runs"),
        OpaqueKind::Env if name == "__currenthost" => "`__currenthost` is prosody's current section: setting it moves the options that follow to another section".into(),
        OpaqueKind::Env => "`_ENV` is prosody's config environment itself: code using it can set or hide any option".into(),
        OpaqueKind::Escape => format!("`{name}` lets the config run code that can set any option"),
    };
    let (line, column) = f.doc.line_col(span.start);
    Opaque {
        file: f.path.clone(),
        line,
        column,
        why,
    }
}

/// The first place in the whole config that can set (or hide) a
/// `component_secret` where a static reading cannot see it: then no
/// component's secret is known without running the config.
pub fn secret_opaque_anywhere(set: &ConfigSet) -> Option<Opaque> {
    set.files.iter().enumerate().find_map(|(fi, f)| {
        f.doc
            .opaque()
            .find(|(span, kind)| {
                *kind != OpaqueKind::NestedAssign || f.doc.slice(span) == "component_secret"
            })
            .map(|(span, kind)| opaque_why(set, fi, &span, kind))
    })
}

/// A computed key in the table form of one of `h`'s own blocks.
pub fn secret_opaque_in(set: &ConfigSet, h: &Host) -> Option<Opaque> {
    let f = &set.files[h.at.file];
    let key = f.doc.section(h.at.stmt)?.computed_key?;
    let (line, column) = f.doc.line_col(key.start);
    Some(Opaque {
        file: f.path.clone(),
        line,
        column,
        why: format!(
            "a computed key ([…] = …) in the table of {} {} can set any option, component_secret too",
            h.kind.keyword(),
            h.literal_name().map_or_else(|| "(computed name)".into(), |n| format!("{n:?}"))
        ),
    })
}

/// The static checks over a loaded config, in file order.
pub fn check(set: &ConfigSet) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let at = |file: usize, offset: usize| {
        let f = &set.files[file];
        let (l, c) = f.doc.line_col(offset);
        (f.path.clone(), l, c)
    };
    let diag = |sev,
                code,
                (file, line, column): (PathBuf, usize, usize),
                message: String,
                help: Option<String>| Diagnostic {
        severity: sev,
        code,
        file,
        line,
        column,
        message,
        help,
    };

    // host-clash and duplicate-component, in the order prosody meets them.
    // The first host of each folded name, keyed by a 32-bit hash of it: a
    // config may have 100,000 hosts, and this map is most of what the check
    // adds to the config's own size. A hit is confirmed by the names.
    let mut first_by_hash: HashMap<u32, (u32, u32)> = HashMap::with_capacity(set.host_count());
    // Names compare as prosody compares them: after nameprep.
    let folded = |h: &crate::config::Host| {
        h.name()
            .literal()
            .map(|n| crate::names::fold(&n).into_owned())
    };
    let mut collided: HashMap<Vec<u8>, (u32, u32)> = HashMap::new();
    let hasher = std::collections::hash_map::RandomState::new();
    // When code can set secrets beyond a static reading, a missing one is
    // not known to be missing: the opaque-option warnings say why.
    let opaque_anywhere = secret_opaque_anywhere(set).is_some();
    for h in set.hosts() {
        let Some(raw) = h.name().literal() else {
            continue;
        };
        let name = String::from_utf8_lossy(&raw);
        let key = crate::names::fold(&raw);
        let pos = at(
            h.at.file,
            set.files[h.at.file].doc.stmt_span(h.at.stmt).start,
        );
        if let Some(why) = crate::names::nameprep_rejects(&raw) {
            out.push(diag(
                Severity::Error,
                "bad-host-name",
                pos.clone(),
                format!(
                    "the {} name {name:?} {why}; prosody refuses to start",
                    h.kind.keyword()
                ),
                None,
            ));
        } else if let Err(why) = crate::names::validate(&name) {
            out.push(diag(
                Severity::Warning,
                "unusable-host-name",
                pos.clone(),
                format!(
                    "{}: prosody loads it, but no XMPP address can use it",
                    why.replace(
                        "the component name",
                        &format!("the {} name", h.kind.keyword())
                    )
                ),
                None,
            ));
        }
        let key_hash = name_hash(&hasher, &key);
        let host_at = |(file, stmt): (u32, u32)| {
            set.host(crate::config::At {
                file: file as usize,
                stmt: stmt as usize,
            })
        };
        let here = (h.at.file as u32, h.at.stmt as u32);
        let earlier = match first_by_hash.get(&key_hash) {
            Some(&e) if folded(&host_at(e)).as_deref() == Some(&key[..]) => Some(host_at(e)),
            // Two names with one hash (about 75 pairs among 800,000 names):
            // the later names of such a hash go to a map keyed by the name
            // itself. (Scanning all earlier hosts instead was quadratic.)
            Some(_) => match collided.entry(key.clone().into_owned()) {
                std::collections::hash_map::Entry::Occupied(e) => Some(host_at(*e.get())),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(here);
                    None
                }
            },
            None => {
                first_by_hash.insert(key_hash, here);
                None
            }
        };
        if let Some(first) = earlier {
            let (file, line) = (&set.files[first.at.file].path, first.line());
            // Written differently, one name to prosody: say so.
            let first_raw = first.name().literal().unwrap_or_default();
            let as_written = if first_raw == raw {
                String::new()
            } else {
                format!(
                    " (as {:?}: both are {:?} after prosody's nameprep)",
                    String::from_utf8_lossy(&first_raw),
                    String::from_utf8_lossy(&key)
                )
            };
            match first.kind {
                kind if kind != h.kind => out.push(diag(
                    Severity::Error,
                    "host-clash",
                    pos.clone(),
                    format!("{} {name:?} has the name of the {} at {}:{line}{as_written}; prosody refuses to start", h.kind.keyword(), kind.keyword(), file.display()),
                    Some(format!("for services use a sub-domain, like conference.{name}")),
                )),
                SectionKind::Component => out.push(diag(
                    Severity::Warning,
                    "duplicate-component",
                    pos.clone(),
                    format!("Component {name:?} is already defined at {}:{line}{as_written}; prosody merges both, the last value of each option wins", file.display()),
                    Some("keep one block per component".into()),
                )),
                SectionKind::VirtualHost => {}
            }
        }
        if h.is_external() {
            match h.secret() {
                None if opaque_anywhere || secret_opaque_in(set, &h).is_some() => {}
                None => out.push(diag(
                    Severity::Error,
                    "component-secret-missing",
                    pos.clone(),
                    format!("external Component {name:?} has no component_secret; prosody will refuse every connection"),
                    Some(format!("fogbow-xmpp-ctl add {name} --secret-file FILE")),
                )),
                Some(s) => {
                    if let Some(lit) = s.literal() {
                        if weak_secret(&lit) {
                            out.push(diag(
                                Severity::Warning,
                                "weak-secret",
                                at(h.at.file, s.span.start),
                                format!("the component_secret of {name:?} is a placeholder or shorter than 16 bytes"),
                                Some(format!("fogbow-xmpp-ctl add {name} --generate-secret --replace")),
                            ));
                        }
                    }
                }
            }
        }
    }
    drop((first_by_hash, collided));

    // opaque-option and shadowed-option: where options are set beyond the
    // statements prosody's config is made of. Warnings: prosody loads such a
    // config and runs it as written; it is our static reading (and an edit
    // based on it) that cannot be trusted there, and edits refuse instead.
    for (fi, f) in set.files.iter().enumerate() {
        for (span, kind) in f.doc.opaque() {
            let o = opaque_why(set, fi, &span, kind);
            out.push(diag(
                Severity::Warning,
                "opaque-option",
                (o.file, o.line, o.column),
                format!("{}; fogbow-xmpp-ctl cannot follow it", o.why),
                Some("set options with plain top-level `name = value` lines after their VirtualHost/Component line".into()),
            ));
        }
        for (assigned, decl) in f.doc.shadowed() {
            let name = f.doc.slice(&assigned);
            let (dl, dc) = f.doc.line_col(decl.start);
            out.push(diag(
                Severity::Warning,
                "shadowed-option",
                at(fi, assigned.start),
                format!("this assigns the Lua local '{name}' declared at line {dl}:{dc}, not prosody's option '{name}', which stays unset here"),
                Some(format!("rename or remove the `local {name}` at line {dl}")),
            ));
        }
    }
    for h in set.hosts() {
        if let Some(o) = secret_opaque_in(set, &h) {
            out.push(diag(
                Severity::Warning,
                "opaque-option",
                (o.file, o.line, o.column),
                format!("{}; fogbow-xmpp-ctl cannot follow it", o.why),
                Some("write the key as a name or a string: `component_secret = …`".into()),
            ));
        }
    }

    // global-option-in-section and duplicate-option, file by file. The
    // options of one section follow its header until the next header, so
    // one map for the global section and one for the current section do.
    for (fi, f) in set.files.iter().enumerate() {
        let doc = &f.doc;
        let mut global: HashMap<&str, usize> = HashMap::new();
        let mut section: HashMap<&str, usize> = HashMap::new();
        for (si, s) in doc.statements().enumerate() {
            let owner = match doc.owner(si) {
                crate::document::Owner::Global => None,
                crate::document::Owner::Section(h) => Some(h),
            };
            let options = match &s.statement {
                Statement::Options(o) => *o,
                Statement::Section(h) => {
                    section.clear();
                    match &h.table {
                        Some((_, fields)) => *fields,
                        None => continue,
                    }
                }
                _ => continue,
            };
            for o in options.iter() {
                let pos = at(fi, o.name_span.start);
                let seen = if owner.is_some() {
                    &mut section
                } else {
                    &mut global
                };
                if let Some(prev) = seen.insert(o.name, pos.1) {
                    out.push(diag(
                        Severity::Warning,
                        "duplicate-option",
                        pos.clone(),
                        format!("option '{}' is set again in the same section (first at line {prev}); the last value wins", o.name),
                        None,
                    ));
                }
                if let Some(h) = owner {
                    if global_only(o.name) {
                        let head = doc.section(h).expect("an owner is a section");
                        let (hl, _) = doc.line_col(doc.stmt_span(h).start);
                        out.push(diag(
                            Severity::Warning,
                            "global-option-in-section",
                            pos,
                            format!(
                                "'{}' is read only from the global section, but here it is set under {} {} (line {hl}) and is ignored",
                                o.name,
                                head.kind.keyword(),
                                doc.slice(&head.name.span)
                            ),
                            Some("move it above the first VirtualHost/Component line of the main config".into()),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The hash `check` keys host names by. The unit tests keep one bit of it,
/// so that unequal names share a hash all the time and the slow path runs.
fn name_hash(hasher: &std::collections::hash_map::RandomState, key: &[u8]) -> u32 {
    let h = std::hash::BuildHasher::hash_one(hasher, key) as u32;
    if cfg!(test) {
        h & 1
    } else {
        h
    }
}

/// Errors in `after` that `before` did not have (compared without
/// positions, which an edit shifts): what an edit must not introduce.
pub fn new_errors(before: &[Diagnostic], after: &[Diagnostic]) -> Vec<Diagnostic> {
    // A set, not a list: a config may carry 100,000 old errors.
    let key = |d: &Diagnostic| (d.code, d.message.clone());
    let old: std::collections::HashSet<_> = before
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(key)
        .collect();
    after
        .iter()
        .filter(|d| d.severity == Severity::Error && !old.contains(&key(d)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Vec<(&'static str, usize, usize)> {
        let d = std::env::temp_dir().join(format!("fxc-diag-{}-{}", std::process::id(), src.len()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("p.cfg.lua");
        std::fs::write(&p, src).unwrap();
        let out = match ConfigSet::load(&p) {
            Ok(set) => check(&set),
            Err(e) => vec![from_load_error(&e)],
        };
        std::fs::remove_dir_all(&d).unwrap();
        out.into_iter()
            .map(|d| (d.code, d.line, d.column))
            .collect()
    }

    /// A diagnostic without a position names only its file (issue 10: a
    /// prosody-load error was shown at `FILE:0:0`).
    #[test]
    fn no_position_is_not_line_zero() {
        let mut d = Diagnostic {
            severity: Severity::Error,
            code: "prosody-load",
            file: "/etc/prosody/prosody.cfg.lua".into(),
            line: 0,
            column: 0,
            message: "prosody cannot load the config: boom".into(),
            help: None,
        };
        assert_eq!(
            d.to_string(),
            "/etc/prosody/prosody.cfg.lua: error[prosody-load]: prosody cannot load the config: boom"
        );
        d.line = 3;
        d.column = 1;
        assert!(d
            .to_string()
            .starts_with("/etc/prosody/prosody.cfg.lua:3:1: error"));
    }

    /// Under test the name hash keeps one bit, so distinct names collide
    /// all the time: each duplicate must still name its true first block.
    #[test]
    fn duplicates_found_through_hash_collisions() {
        let block =
            |n: &str| format!("Component \"{n}\"\n\tcomponent_secret = \"0123456789abcdef0\"\n");
        let names = [
            "a.example",
            "b.example",
            "c.example",
            "d.example",
            "B.example",
            "A.example",
            "D.example",
        ];
        let src: String = names.iter().map(|n| block(n)).collect();
        let d = std::env::temp_dir().join(format!("fxc-diag-collide-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("p.cfg.lua");
        std::fs::write(&p, &src).unwrap();
        let found: Vec<(usize, String)> = check(&ConfigSet::load(&p).unwrap())
            .into_iter()
            .map(|x| (x.line, x.message))
            .collect();
        std::fs::remove_dir_all(&d).unwrap();
        let want = [
            (9, "b.example", 3),
            (11, "a.example", 1),
            (13, "d.example", 7),
        ];
        assert_eq!(found.len(), want.len(), "{found:?}");
        for ((line, message), (wl, first, fl)) in found.iter().zip(want) {
            assert_eq!(*line, wl, "{message}");
            assert!(
                message.contains("is already defined at")
                    && message.contains(&format!("p.cfg.lua:{fl} (as"))
                    && message
                        .ends_with("; prosody merges both, the last value of each option wins"),
                "{message} should name {first} at line {fl}"
            );
        }
    }

    /// A config, and the (code, line, column) of each finding in it.
    type Case<'a> = (&'a str, &'a [(&'a str, usize, usize)]);

    #[test]
    fn table_of_findings() {
        let cases: &[Case] = &[
            ("x = 1\n# comment\n", &[("syntax", 2, 1)]),
            ("Include \"missing.lua\"\n", &[("include-missing", 1, 1)]),
            ("VirtualHost \"a.example\"\nComponent \"a.example\"\n\tcomponent_secret = \"0123456789abcdef0\"\n", &[("host-clash", 2, 1)]),
            ("Component \"c.example\"\n", &[("component-secret-missing", 1, 1)]),
            ("Component \"c.example\" \"muc\"\n", &[]),
            ("Component \"c.example\"\n\tcomponent_secret = \"manager_password\"\n", &[("weak-secret", 2, 21)]),
            ("Component \"c.example\"\n\tcomponent_secret = \"short\"\n", &[("weak-secret", 2, 21)]),
            (
                "Component \"c.example\"\n\tcomponent_secret = \"0123456789abcdef0\"\n\tcomponent_interface = \"0.0.0.0\"\n",
                &[("global-option-in-section", 3, 2)],
            ),
            ("component_interface = \"0.0.0.0\"\nVirtualHost \"v\"\n", &[]),
            ("a = 1\na = 2\nVirtualHost \"v\"\na = 3\n", &[("duplicate-option", 2, 1)]),
            (
                "Component \"c.example\" { component_secret = \"0123456789abcdef0\" }\nComponent \"C.example\" { component_secret = \"0123456789abcdef0\" }\n",
                &[("duplicate-component", 2, 1)],
            ),
            // A bracketed key is the option itself: no false component-secret-missing.
            ("Component \"c.example\" { [\"component_secret\"] = \"0123456789abcdef0\" }\n", &[]),
            // A local shadows the option: prosody has no secret, and we say why.
            (
                "local component_secret\nComponent \"c.example\"\ncomponent_secret = \"0123456789abcdef0\"\n",
                &[("component-secret-missing", 2, 1), ("shadowed-option", 3, 1)],
            ),
            // Set where the model cannot see: not known to be missing; a warning says where.
            ("Component \"c.example\"\ndo component_secret = \"0123456789abcdef0\" end\n", &[("opaque-option", 2, 4)]),
            ("Component \"c.example\" { [k] = 1 }\n", &[("opaque-option", 1, 26)]),
            ("Component \"c.example\"\n_ENV.component_secret = \"0123456789abcdef0\"\n", &[("opaque-option", 2, 1)]),
        ];
        for (src, want) in cases {
            assert_eq!(&run(src), want, "{src}");
        }
    }

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(terminal_safe("a.example"), "a.example");
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b\u{7f}\u{9b}\r\t"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{7f}\\u{9b}\\u{d}\\u{9}"
        );
        for bidi in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200f}'] {
            let s = terminal_safe(&format!("x{bidi}y")).into_owned();
            assert!(!s.contains(bidi) && s.starts_with("x\\u{"), "{s}");
        }
        // Letters of any script are shown as they are.
        assert_eq!(terminal_safe("straße.例え.אב"), "straße.例え.אב");
    }

    #[test]
    fn lua_messages_lose_string_tokens() {
        for (lua, want) in [
            (
                "b.cfg.lua:1: unexpected symbol near '\"S3CR3T\"'",
                "b.cfg.lua:1: unexpected symbol near <string>",
            ),
            (
                "x:2: '=' expected near ''it''s''",
                "x:2: '=' expected near <string>",
            ),
            (
                "x:2: unfinished string near '\"S3CR3T'",
                "x:2: unfinished string near <string>",
            ),
            (
                "x:3: unexpected symbol near '[==[S3CR3T]==]' (and more)",
                "x:3: unexpected symbol near <string> (and more)",
            ),
            (
                "x:4: unexpected symbol near '#'",
                "x:4: unexpected symbol near '#'",
            ),
            (
                "x:5: syntax error near 'end'",
                "x:5: syntax error near 'end'",
            ),
        ] {
            assert_eq!(without_string_tokens(lua), want);
        }
    }

    #[test]
    fn global_only_options() {
        for o in [
            "component_interface",
            "component_interfaces",
            "component_ports",
            "c2s_ports",
            "interfaces",
            "local_interfaces",
            "use_ipv6",
            "pidfile",
            "log",
            "daemonize",
            "plugin_paths",
            "data_path",
            "network_backend",
            "legacy_ssl",
        ] {
            assert!(global_only(o), "{o}");
        }
        for o in [
            "component_secret",
            "modules_enabled",
            "c2s_ssl",
            "turn_external_port",
            "ssl",
        ] {
            assert!(!global_only(o), "{o}");
        }
    }
}

/// The outcome of `check`; its JSON form is part of the contract.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    /// Every file read: the main config and what it includes.
    #[serde(serialize_with = "crate::config::json_path::many")]
    pub files: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
    /// What was not checked, and why (e.g. prosody is not installed).
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Also load the config with the installed prosody's configmanager.
    pub with_prosody: bool,
    /// Warnings count as errors.
    pub strict: bool,
}

/// Checks the config at `main` and everything it includes. Reads only:
/// it runs as the `prosody` user before every start, without a lock.
/// prosody's own verdict as a diagnostic (`None` when it loads). An error
/// raised inside prosody's code (a glob over a missing directory, say)
/// names prosody's file: it is pointed at the main config instead.
pub fn from_prosody_verdict(
    main: &Path,
    files: &[PathBuf],
    verdict: crate::prosody::Verdict,
) -> Option<Diagnostic> {
    let crate::prosody::Verdict::Fails {
        file,
        line,
        message,
    } = verdict
    else {
        return None;
    };
    let (file, line, message) = match file {
        Some(f) if files.contains(&f) => (f, line, message),
        Some(f) => (
            main.to_path_buf(),
            None,
            format!("{}:{}: {message}", f.display(), line.unwrap_or(0)),
        ),
        None => (main.to_path_buf(), None, message),
    };
    Some(Diagnostic {
        severity: Severity::Error,
        code: "prosody-load",
        file,
        line: line.unwrap_or(0),
        column: line.map_or(0, |_| 1),
        message: format!(
            "prosody cannot load the config: {}",
            without_string_tokens(&message)
        ),
        help: None,
    })
}

pub fn check_config(main: &Path, opts: CheckOptions) -> Report {
    let mut notes = Vec::new();
    let (files, mut diagnostics): (Vec<PathBuf>, _) = match ConfigSet::load(main) {
        Err(e) => (vec![main.to_path_buf()], vec![from_load_error(&e)]),
        Ok(set) => {
            let files = set.files.iter().map(|f| f.path.clone()).collect();
            for at in &set.unresolved_includes {
                let f = &set.files[at.file];
                let (l, _) = f.doc.line_col(f.doc.stmt_span(at.stmt).start);
                notes.push(format!("{}:{l}: an Include with a computed path is checked only by prosody's own loader", f.path.display()));
            }
            (files, check(&set))
        }
    };
    let has_errors = |ds: &[Diagnostic]| ds.iter().any(|d| d.severity == Severity::Error);
    // Our own errors already make the verdict; prosody's loader would only repeat them.
    if opts.with_prosody && !has_errors(&diagnostics) {
        match crate::prosody::Installed::find() {
            None => notes.push("prosody is not installed: the config was not loaded with prosody's own configmanager".into()),
            Some(p) => match p.load(main) {
                Ok(v) => diagnostics.extend(from_prosody_verdict(main, &files, v)),
                Err(e) => diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: "prosody-load",
                    file: main.to_path_buf(),
                    line: 0,
                    column: 0,
                    message: e,
                    help: Some("use --no-prosody to check without prosody's loader".into()),
                }),
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

#[cfg(test)]
mod new_error_tests {
    use super::*;

    fn d(sev: Severity, code: &'static str, line: usize, message: &str) -> Diagnostic {
        Diagnostic {
            severity: sev,
            code,
            file: "/p.cfg.lua".into(),
            line,
            column: 1,
            message: message.into(),
            help: None,
        }
    }

    #[test]
    fn only_errors_the_edit_introduced_count() {
        let before = vec![
            d(Severity::Error, "component-secret-missing", 3, "x"),
            d(Severity::Warning, "weak-secret", 2, "w"),
        ];
        // The same error moved by the edit is not new; a new warning is not an error.
        let after = vec![
            d(Severity::Error, "component-secret-missing", 7, "x"),
            d(Severity::Warning, "duplicate-option", 9, "dup"),
            d(Severity::Error, "host-clash", 12, "clash"),
        ];
        let new = new_errors(&before, &after);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].code, "host-clash");
    }
}
