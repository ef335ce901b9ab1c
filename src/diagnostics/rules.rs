//! The static checks over a loaded config: one function per rule, each
//! naming its code, run by [`check`] in one pass over the hosts and one over
//! each file's statements (linear in the config's size: duplicates are found
//! through hash maps, never by scanning earlier hosts).
//!
//! The order of the findings is the driver's order, and part of what tests
//! and operators see: per host its name, its uniqueness, its secret; then
//! code the model cannot follow, file by file; then options, file by file.

use std::borrow::Cow;
use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::path::PathBuf;

use super::{Code, Diagnostic, LineRef, Subject};
use crate::document::{Document, OpaqueKind, OptionSet, Owner, SectionKind, Span, Statement};
use crate::prosody::config::{At, ConfigSet, Host};

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
pub(crate) fn global_only(option: &str) -> bool {
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
pub(crate) fn weak_secret(secret: &[u8]) -> bool {
    secret.len() < 16 || PLACEHOLDER_SECRETS.iter().any(|p| p.as_bytes() == secret)
}

/// A place where the config sets options beyond a static reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// What is there and why it cannot be followed (no config text but names).
    pub(crate) why: String,
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
pub(crate) fn secret_opaque_anywhere(set: &ConfigSet) -> Option<Opaque> {
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
pub(crate) fn secret_opaque_in(set: &ConfigSet, h: &Host) -> Option<Opaque> {
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

/// The static checks over a loaded config: every rule, in the order the
/// module's opening comment gives.
pub(crate) fn check(set: &ConfigSet) -> Vec<Diagnostic> {
    let mut r = Rules {
        set,
        out: Vec::new(),
    };
    // When code can set secrets beyond a static reading, a missing one is
    // not known to be missing: the opaque-option warnings say why.
    let secrets_opaque = secret_opaque_anywhere(set).is_some();
    // A component that sets no secret uses the global section's.
    let global_secret = set.global_secret().is_some();
    let mut names = FirstOfName::new(set);
    // Each `duplicate-component` warning: where it is in `out`, its block
    // and the first block of its name (rare: kept aside, then judged).
    let mut duplicates: Vec<(usize, At, At)> = Vec::new();
    // Each `component-secret-missing`: where it is in `out`, and the first
    // block of its name. prosody merges the blocks of one name: another
    // block's secret is this one's too.
    let mut missing: Vec<(usize, At)> = Vec::new();
    for host in set.hosts() {
        let Some(h) = Named::new(set, host) else {
            continue;
        };
        if !r.bad_host_name(&h) {
            r.unusable_host_name(&h);
        }
        let first = names.earlier(&h);
        if let Some(first) = &first {
            r.host_clash(&h, first);
            if r.duplicate_component(&h, first) {
                duplicates.push((r.out.len() - 1, h.host.at, first.at));
            }
        }
        if h.host.is_external() {
            // Once per component, at its first block: a later block of the
            // name is a duplicate, or a clash that stops prosody.
            if first.is_none() {
                r.component_name_spelling(&h);
            }
            let secret = h.host.secret();
            // `Component("x", "muc")`: why, then (if so) the missing secret.
            r.component_module_ignored(&h, secret.is_some() || global_secret);
            if secret.is_none()
                && !global_secret
                && !secrets_opaque
                && r.component_secret_missing(&h)
            {
                let group = first.map_or(h.host.at, |f| f.at);
                missing.push((r.out.len() - 1, group));
            }
            if let Some(s) = secret.and_then(|s| s.literal().map(|l| (s.span, l))) {
                r.weak_secret(&h, s);
            }
        }
    }
    // The name maps are most of what the check adds to the config's own
    // size: gone before the passes that do not need them.
    drop(names);
    if !secrets_opaque {
        r.duplicate_component_secret(&duplicates);
        r.merged_secrets(&duplicates, &missing);
    }
    for fi in 0..set.files.len() {
        r.opaque_code(fi);
        r.shadowed_option(fi);
    }
    for h in set.hosts() {
        r.opaque_key(&h);
    }
    for fi in 0..set.files.len() {
        r.options(fi);
    }
    r.out
        .extend(super::secret_refs::invalid_credential_names(set));
    r.out
}

/// `FILE`, `LINE`, `COLUMN` of a finding.
type Place = (PathBuf, usize, usize);

/// The findings so far, and where to put them.
struct Rules<'s> {
    set: &'s ConfigSet,
    out: Vec<Diagnostic>,
}

/// A host whose name is a literal string: the rules about names need one.
struct Named<'s> {
    host: Host<'s>,
    /// The bytes of the name, as written, and shown as text.
    raw: Vec<u8>,
    name: String,
    /// Its position: the statement's start.
    at: Place,
}

impl<'s> Named<'s> {
    fn new(set: &'s ConfigSet, host: Host<'s>) -> Option<Named<'s>> {
        let raw = host.name().literal()?;
        let doc = &set.files[host.at.file].doc;
        let (line, column) = doc.line_col(doc.stmt_span(host.at.stmt).start);
        Some(Named {
            host,
            name: String::from_utf8_lossy(&raw).into_owned(),
            raw,
            at: (set.files[host.at.file].path.clone(), line, column),
        })
    }
    /// The name prosody compares: after nameprep.
    fn folded(&self) -> Cow<'_, [u8]> {
        crate::prosody::names::fold(&self.raw)
    }
    /// What its findings are about: the host, by the name prosody compares.
    fn subject(&self) -> Subject {
        Subject::Host(self.folded().into_owned())
    }
}

impl Rules<'_> {
    fn at(&self, file: usize, offset: usize) -> Place {
        let f = &self.set.files[file];
        let (l, c) = f.doc.line_col(offset);
        (f.path.clone(), l, c)
    }

    fn push(
        &mut self,
        code: Code,
        subject: Subject,
        at: Place,
        message: String,
        help: Option<String>,
    ) {
        let mut d = Diagnostic::new(code, subject, at, message);
        d.help = help;
        self.out.push(d);
    }

    /// `bad-host-name`: a name prosody's nameprep refuses, which stops
    /// prosody at start. True when it reported one.
    fn bad_host_name(&mut self, h: &Named) -> bool {
        let Some(why) = crate::prosody::names::nameprep_rejects(&h.raw) else {
            return false;
        };
        let message = format!(
            "the {} name {:?} {why}; prosody refuses to start",
            h.host.kind.keyword(),
            h.name
        );
        self.push(Code::BadHostName, h.subject(), h.at.clone(), message, None);
        true
    }

    /// `unusable-host-name`: a name prosody loads but that no XMPP address
    /// can carry (a space, `@`, …).
    fn unusable_host_name(&mut self, h: &Named) {
        if let Err(bad) = crate::prosody::names::validate(&h.name) {
            let message = format!(
                "{}: prosody loads it, but no XMPP address can use it",
                bad.describe(h.host.kind.keyword())
            );
            self.push(
                Code::UnusableHostName,
                h.subject(),
                h.at.clone(),
                message,
                None,
            );
        }
    }

    /// `component-name-spelling`: an external component whose name as
    /// written is not nameprep's form. prosody activates it under that
    /// form but matches a connecting component's name as sent, so one
    /// connecting with the file's spelling is refused (host-unknown).
    /// Reported at the name; not for a name `validate` refuses (its own
    /// finding says what is wrong with it).
    fn component_name_spelling(&mut self, h: &Named) {
        let Some(prepped) = crate::prosody::names::connect_as(&h.raw) else {
            return;
        };
        if crate::prosody::names::validate(&h.name).is_err() {
            return;
        }
        let name = &h.name;
        let message = format!(
            "Component {name:?} is {prepped:?} to prosody (nameprep), but prosody matches a connecting component's \
             name as sent: one that connects as {name} is refused (host-unknown); connect as {prepped}"
        );
        let help = format!(
            "set the component's name (a Fogbow component's xmpp_jid) to {prepped}, or write Component {prepped:?}"
        );
        let at = self.at(h.host.at.file, h.host.name().span.start);
        self.push(
            Code::ComponentNameSpelling,
            h.subject(),
            at,
            message,
            Some(help),
        );
    }

    /// `host-clash`: a host with the name of an earlier host of the other
    /// kind (Component and VirtualHost); prosody refuses to start.
    fn host_clash(&mut self, h: &Named, first: &Host) {
        if first.kind == h.host.kind {
            return;
        }
        let name = &h.name;
        let message = format!(
            "{} {name:?} has the name of the {} at {}{}; prosody refuses to start",
            h.host.kind.keyword(),
            first.kind.keyword(),
            self.where_(first),
            as_written(h, first)
        );
        let help = format!("for services use a sub-domain, like conference.{name}");
        self.push(
            Code::HostClash,
            h.subject(),
            h.at.clone(),
            message,
            Some(help),
        );
        self.refer(vec![self.ref_to(first)]);
    }

    /// The lines the last finding's message names.
    fn refer(&mut self, refs: Vec<LineRef>) {
        self.out.last_mut().expect("just pushed").refs = refs;
    }

    /// Host `h`'s line as [`Rules::where_`] writes it.
    fn ref_to(&self, h: &Host) -> LineRef {
        LineRef {
            file: self.set.files[h.at.file].path.clone(),
            line: h.line(),
            prefix: format!("{}:", self.set.files[h.at.file].path.display()),
        }
    }

    /// `duplicate-component`: a second block for one component, which
    /// prosody merges with the first.
    fn duplicate_component(&mut self, h: &Named, first: &Host) -> bool {
        if !(first.kind == SectionKind::Component && h.host.kind == SectionKind::Component) {
            return false;
        }
        let message = format!(
            "Component {:?} is already defined at {}{}; prosody merges both, the last value of each option wins",
            h.name,
            self.where_(first),
            as_written(h, first)
        );
        let help = "keep one block per component".to_string();
        self.push(
            Code::DuplicateComponent,
            h.subject(),
            h.at.clone(),
            message,
            Some(help),
        );
        self.refer(vec![self.ref_to(first)]);
        true
    }

    /// `duplicate-component-secret`: blocks of one component that set
    /// different `component_secret`s. prosody merges the blocks and the
    /// last secret set wins (configmanager's `set` overwrites), so the
    /// others are dead text, and a component that uses one of them is
    /// refused (`not-authorized`). The `duplicate-component` warning of
    /// the block whose secret wins becomes this error; blocks whose secrets
    /// are equal (or not literals: not known to differ) keep the warning.
    fn duplicate_component_secret(&mut self, duplicates: &[(usize, At, At)]) {
        let mut groups: HashMap<At, Vec<(usize, At)>> = HashMap::new();
        for &(i, at, first) in duplicates {
            groups.entry(first).or_default().push((i, at));
        }
        for (first, dups) in groups {
            let blocks: Vec<At> = std::iter::once(first)
                .chain(dups.iter().map(|&(_, at)| at))
                .collect();
            let secrets: Vec<(At, Option<Vec<u8>>)> = blocks
                .iter()
                .filter_map(|&at| {
                    let v = self.set.host(at).secret()?;
                    Some((at, v.literal()))
                })
                .collect();
            let Some((winner, Some(wins))) = secrets.last().cloned() else {
                continue;
            };
            if secrets.iter().any(|(_, v)| v.is_none()) {
                continue;
            }
            let dead: Vec<At> = secrets
                .iter()
                .filter(|(_, v)| v.as_deref() != Some(&wins[..]))
                .map(|(at, _)| *at)
                .collect();
            if dead.is_empty() {
                continue;
            }
            let Some(&(i, _)) = dups.iter().find(|(_, at)| *at == winner) else {
                continue;
            };
            let where_ = |at: At| self.where_(&self.set.host(at));
            let dead_at: Vec<String> = dead.iter().map(|&at| where_(at)).collect();
            let winner_at = where_(winner);
            let refs: Vec<LineRef> = std::iter::once(winner)
                .chain(dead.iter().copied())
                .map(|at| self.ref_to(&self.set.host(at)))
                .collect();
            // The names as written; another spelling of the same host
            // (after nameprep) is named too, or the operator would not find it.
            let written = |at: At| self.set.host(at).literal_name().unwrap_or_default();
            let name = written(winner);
            let others: Vec<String> = dead
                .iter()
                .map(|&at| written(at))
                .filter(|n| *n != name)
                .collect();
            let spelled = match others.first() {
                Some(n) => {
                    format!(" (written {n:?} there: the same host after prosody's nameprep)")
                }
                None => String::new(),
            };
            let d = &mut self.out[i];
            d.refs = refs;
            d.code = Code::DuplicateComponentSecret;
            d.severity = Code::DuplicateComponentSecret.severity();
            d.message = format!(
                "Component {name:?} is defined more than once with different component_secrets: prosody uses the last one set, in this block ({}), and a component connecting with the secret set in the block at {}{spelled} is refused (not-authorized)",
                winner_at,
                dead_at.join(", ")
            );
            d.help = Some(format!(
                "keep one block per component: delete the block at {} (or give both the secret the component uses)",
                dead_at.join(", ")
            ));
        }
    }

    /// `FILE:LINE` of a host, for a message about another.
    fn where_(&self, h: &Host) -> String {
        format!("{}:{}", self.set.files[h.at.file].path.display(), h.line())
    }

    /// `component-secret-missing`: an external component without a
    /// `component_secret`; prosody refuses every connection. Not reported
    /// when code the model cannot follow may set it (`opaque-option` says so).
    fn component_secret_missing(&mut self, h: &Named) -> bool {
        if secret_opaque_in(self.set, &h.host).is_some() {
            return false;
        }
        let name = &h.name;
        self.push(
            Code::ComponentSecretMissing,
            h.subject(),
            h.at.clone(),
            format!("external Component {name:?} has no component_secret; prosody will refuse every connection"),
            Some(format!("fogbow-xmpp-ctl add {name} --secret-file FILE")),
        );
        true
    }

    /// Drops the `component-secret-missing` findings (`missing`: index in
    /// `out`, first block of the name) of components another block of the
    /// same name gives a secret: prosody merges the blocks (the
    /// `duplicate-component` warning says so). Runs last among the host
    /// rules: it shifts the findings' indices.
    fn merged_secrets(&mut self, duplicates: &[(usize, At, At)], missing: &[(usize, At)]) {
        if duplicates.is_empty() || missing.is_empty() {
            return;
        }
        let mut has_secret: HashMap<At, bool> = HashMap::new();
        for &(_, at, first) in duplicates {
            let e = has_secret
                .entry(first)
                .or_insert_with(|| self.set.host(first).secret().is_some());
            *e |= self.set.host(at).secret().is_some();
        }
        let drop: std::collections::HashSet<usize> = missing
            .iter()
            .filter(|(_, g)| has_secret.get(g).copied().unwrap_or(false))
            .map(|&(i, _)| i)
            .collect();
        let mut i = 0;
        self.out.retain(|_| {
            i += 1;
            !drop.contains(&(i - 1))
        });
    }

    /// `component-module-ignored`: `Component("x", "muc")`, where prosody's
    /// `Component(name)` ignores every argument after the name, so the
    /// section is an external component (no MUC, no table of options).
    /// A warning: prosody starts and serves an external component (with a
    /// `component_secret`, one that works); without a secret the section
    /// also gets `component-secret-missing`, the error it always was.
    /// `Component("x", "component")` is exactly what it says: nothing.
    fn component_module_ignored(&mut self, h: &Named, has_secret: bool) {
        let doc = &self.set.files[h.host.at.file].doc;
        let Some(head) = doc.section(h.host.at.stmt) else {
            return;
        };
        let Some(args) = head.ignored_args else {
            return;
        };
        let name_src = doc.slice(&head.name.span);
        let first_arg = doc.slice(&args);
        // A module name is shown (as a diff shows it); any other string
        // might be a secret, and a table may hold one.
        let arg = &doc.text()[args.clone()];
        let module = match crate::document::lexer::tokenize(arg).as_deref() {
            Ok([t, _eof]) if t.kind == crate::document::lexer::Tok::Str => {
                Some(crate::document::lexer::decode_string(&arg[t.span.clone()]))
            }
            _ => None,
        }
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| {
            !m.is_empty()
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if module.as_deref() == Some("component") {
            return;
        }
        let (what, fix) = if let Some(module) = module {
            (
                format!("not a \"{module}\" service"),
                format!("Component {name_src} \"{module}\""),
            )
        } else if first_arg.starts_with('{') {
            (
                "and the options in that table are not set".to_string(),
                format!("Component {name_src} {{ … }}"),
            )
        } else {
            (
                "not what its second argument says".to_string(),
                format!("Component {name_src} \"MODULE\""),
            )
        };
        let consequence = if has_secret {
            ""
        } else {
            "; it has no component_secret, so prosody will refuse every connection to it"
        };
        self.push(
            Code::ComponentModuleIgnored,
            h.subject(),
            h.at.clone(),
            format!(
                "prosody's Component() takes one argument and ignores the rest: {:?} is an external component, {what}{consequence}",
                h.name
            ),
            Some(format!(
                "write `{fix}` (a call on the result: Component({name_src})(…) sets the module or the options)"
            )),
        );
    }

    /// `weak-secret`: a literal `component_secret` shorter than 16 bytes,
    /// or a Fogbow guide placeholder.
    fn weak_secret(&mut self, h: &Named, (span, secret): (Span, Vec<u8>)) {
        if !weak_secret(&secret) {
            return;
        }
        let name = &h.name;
        self.push(
            Code::WeakSecret,
            h.subject(),
            self.at(h.host.at.file, span.start),
            format!("the component_secret of {name:?} is a placeholder or shorter than 16 bytes"),
            Some(format!(
                "fogbow-xmpp-ctl add {name} --generate-secret --replace"
            )),
        );
    }

    /// `opaque-option`: code in file `fi` that sets options where a static
    /// reading cannot follow. A warning: prosody runs it as written; it is
    /// our reading (and an edit based on it) that cannot be trusted there,
    /// and edits refuse instead.
    fn opaque_code(&mut self, fi: usize) {
        let f = &self.set.files[fi];
        for (span, kind) in f.doc.opaque() {
            let o = opaque_why(self.set, fi, &span, kind);
            let subject = Subject::Code {
                file: o.file.clone(),
                name: f.doc.slice(&span),
            };
            self.push(
                Code::OpaqueOption,
                subject,
                (o.file, o.line, o.column),
                format!("{}; fogbow-xmpp-ctl cannot follow it", o.why),
                Some("set options with plain top-level `name = value` lines after their VirtualHost/Component line".into()),
            );
        }
    }

    /// `opaque-option`: a computed key (`[k] = …`) in the table form of
    /// host `h`'s block, which can set any option.
    fn opaque_key(&mut self, h: &Host) {
        let Some(o) = secret_opaque_in(self.set, h) else {
            return;
        };
        let subject = Subject::Host(section_key(&self.set.files[h.at.file].doc, h.at.stmt));
        self.push(
            Code::OpaqueOption,
            subject,
            (o.file, o.line, o.column),
            format!("{}; fogbow-xmpp-ctl cannot follow it", o.why),
            Some("write the key as a name or a string: `component_secret = …`".into()),
        );
    }

    /// `shadowed-option`: `name = …` in file `fi` after a top-level
    /// `local name`: it assigns the Lua local, and prosody's option stays unset.
    fn shadowed_option(&mut self, fi: usize) {
        let f = &self.set.files[fi];
        for (assigned, decl) in f.doc.shadowed() {
            let name = f.doc.slice(&assigned);
            let (dl, dc) = f.doc.line_col(decl.start);
            let subject = Subject::Option {
                file: f.path.clone(),
                section: None,
                name: name.clone(),
            };
            self.push(
                Code::ShadowedOption,
                subject,
                self.at(fi, assigned.start),
                format!("this assigns the Lua local '{name}' declared at line {dl}:{dc}, not prosody's option '{name}', which stays unset here"),
                Some(format!("rename or remove the `local {name}` at line {dl}")),
            );
            self.refer(vec![LineRef {
                file: f.path.clone(),
                line: dl,
                prefix: "at line ".into(),
            }]);
        }
    }

    /// The options of file `fi`, section by section, through the option
    /// rules. A section's options follow its header until the next header,
    /// so one map for the global section and one for the current section do.
    fn options(&mut self, fi: usize) {
        let doc = &self.set.files[fi].doc;
        let mut global: HashMap<&str, usize> = HashMap::new();
        let mut section: HashMap<&str, usize> = HashMap::new();
        for (si, s) in doc.statements().enumerate() {
            let owner = match doc.owner(si) {
                Owner::Global => None,
                Owner::Section(h) => Some(h),
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
                let seen = if owner.is_some() {
                    &mut section
                } else {
                    &mut global
                };
                let at = self.at(fi, o.name_span.start);
                if let Some(first) = seen.insert(o.name, at.1) {
                    self.duplicate_option(fi, owner, &o, at.clone(), first);
                }
                if let Some(h) = owner {
                    self.global_option_in_section(fi, h, &o, at);
                }
            }
        }
    }

    /// What an option finding is about: the option, in its section of file `fi`.
    fn option_subject(&self, fi: usize, owner: Option<usize>, o: &OptionSet) -> Subject {
        let doc = &self.set.files[fi].doc;
        Subject::Option {
            file: self.set.files[fi].path.clone(),
            section: owner.map(|h| section_key(doc, h)),
            name: o.name.to_string(),
        }
    }

    /// `duplicate-option`: option `o` set again in one section (first at
    /// line `first`): the last value wins.
    fn duplicate_option(
        &mut self,
        fi: usize,
        owner: Option<usize>,
        o: &OptionSet,
        at: Place,
        first: usize,
    ) {
        self.push(
            Code::DuplicateOption,
            self.option_subject(fi, owner, o),
            at,
            format!("option '{}' is set again in the same section (first at line {first}); the last value wins", o.name),
            None,
        );
        self.refer(vec![LineRef {
            file: self.set.files[fi].path.clone(),
            line: first,
            prefix: "first at line ".into(),
        }]);
    }

    /// `global-option-in-section`: an option prosody reads only from the
    /// global section, set under the host of statement `h`, where it is ignored.
    fn global_option_in_section(&mut self, fi: usize, h: usize, o: &OptionSet, at: Place) {
        if !global_only(o.name) {
            return;
        }
        let doc = &self.set.files[fi].doc;
        let head = doc.section(h).expect("an owner is a section");
        let (hl, _) = doc.line_col(doc.stmt_span(h).start);
        self.push(
            Code::GlobalOptionInSection,
            self.option_subject(fi, Some(h), o),
            at,
            format!(
                "'{}' is read only from the global section, but here it is set under {} {} (line {hl}) and is ignored",
                o.name,
                head.kind.keyword(),
                doc.slice(&head.name.span)
            ),
            Some("move it above the first VirtualHost/Component line of the main config".into()),
        );
        self.refer(vec![LineRef {
            file: self.set.files[fi].path.clone(),
            line: hl,
            prefix: "(line ".into(),
        }]);
    }
}

/// A section of a file, by its name as prosody compares it (after
/// nameprep), or its written expression when the name is computed.
fn section_key(doc: &Document, h: usize) -> Vec<u8> {
    let head = doc.section(h).expect("an owner is a section");
    match head.name.literal() {
        Some(raw) => crate::prosody::names::fold(&raw).into_owned(),
        None => doc.slice(&head.name.span).into_bytes(),
    }
}

/// ` (as "A.example": both are "a.example" after prosody's nameprep)`
/// when `first` spells `h`'s name otherwise: one name to prosody, say so.
fn as_written(h: &Named, first: &Host) -> String {
    let first_raw = first.name().literal().unwrap_or_default();
    if first_raw == h.raw {
        return String::new();
    }
    format!(
        " (as {:?}: both are {:?} after prosody's nameprep)",
        String::from_utf8_lossy(&first_raw),
        String::from_utf8_lossy(&h.folded())
    )
}

/// The first host of each name (after nameprep), for `host-clash` and
/// `duplicate-component`. Keyed by a 32-bit hash of the name: a config may
/// have 100,000 hosts, and this map is most of what the check adds to the
/// config's own size. A hit is confirmed by the names.
struct FirstOfName<'s> {
    set: &'s ConfigSet,
    by_hash: HashMap<u32, (u32, u32)>,
    /// Names whose hash an earlier, other name has (about 75 pairs among
    /// 800,000 names): keyed by the name itself. (Scanning all earlier
    /// hosts instead was quadratic.)
    collided: HashMap<Vec<u8>, (u32, u32)>,
    hasher: RandomState,
}

impl<'s> FirstOfName<'s> {
    fn new(set: &'s ConfigSet) -> FirstOfName<'s> {
        FirstOfName {
            set,
            by_hash: HashMap::with_capacity(set.host_count()),
            collided: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    fn host(&self, (file, stmt): (u32, u32)) -> Host<'s> {
        self.set.host(At {
            file: file as usize,
            stmt: stmt as usize,
        })
    }

    /// The first host named as `h` is, when `h` is not that host; records
    /// `h` as the first otherwise.
    fn earlier(&mut self, h: &Named) -> Option<Host<'s>> {
        let key = h.folded();
        let key_hash = name_hash(&self.hasher, &key);
        let here = (h.host.at.file as u32, h.host.at.stmt as u32);
        match self.by_hash.get(&key_hash) {
            Some(&e) if same_name(&self.host(e), &key) => Some(self.host(e)),
            Some(_) => match self.collided.entry(key.into_owned()) {
                Entry::Occupied(e) => {
                    let first = *e.get();
                    Some(self.host(first))
                }
                Entry::Vacant(v) => {
                    v.insert(here);
                    None
                }
            },
            None => {
                self.by_hash.insert(key_hash, here);
                None
            }
        }
    }
}

/// Whether host `h`'s literal name is `key` after nameprep.
fn same_name(h: &Host, key: &[u8]) -> bool {
    h.name()
        .literal()
        .is_some_and(|n| crate::prosody::names::fold(&n) == key)
}

/// The hash `check` keys host names by. The unit tests keep one bit of it,
/// so that unequal names share a hash all the time and the slow path runs.
fn name_hash(hasher: &RandomState, key: &[u8]) -> u32 {
    let h = std::hash::BuildHasher::hash_one(hasher, key) as u32;
    if cfg!(test) {
        h & 1
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::from_load_error;

    fn run(src: &str) -> Vec<(&'static str, usize, usize)> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.cfg.lua");
        std::fs::write(&p, src).unwrap();
        let out = match ConfigSet::load(&p) {
            Ok(set) => check(&set),
            Err(e) => vec![from_load_error(&e)],
        };
        out.into_iter()
            .map(|d| (d.code.as_str(), d.line, d.column))
            .collect()
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
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.cfg.lua");
        std::fs::write(&p, &src).unwrap();
        let found: Vec<(usize, String)> = check(&ConfigSet::load(&p).unwrap())
            .into_iter()
            .map(|x| (x.line, x.message))
            .collect();
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
    #[test]
    fn table_of_findings() {
        /// A config, and its findings: code, line, column.
        type Case = (&'static str, &'static [(&'static str, usize, usize)]);
        let cases: &[Case] = &[
            ("x = 1\n# comment\n", &[("syntax", 2, 1)]),
            ("Include \"missing.lua\"\n", &[("include-missing", 1, 1)]),
            ("VirtualHost \"a.example\"\nComponent \"a.example\"\n\tcomponent_secret = \"0123456789abcdef0\"\n", &[("host-clash", 2, 1)]),
            ("Component \"c.example\"\n", &[("component-secret-missing", 1, 1)]),
            ("Component \"c.example\" \"muc\"\n", &[]),
            (
                "Component(\"c.example\", \"muc\")\n",
                &[
                    ("component-module-ignored", 1, 1),
                    ("component-secret-missing", 1, 1),
                ],
            ),
            // Exactly what it says: an external component.
            (
                "Component(\"c.example\", \"component\")\n\tcomponent_secret = \"0123456789abcdef0123\"\n",
                &[],
            ),
            (
                "Component(\"c.example\", { component_secret = \"0123456789abcdef0\" })\n",
                &[
                    ("component-module-ignored", 1, 1),
                    ("component-secret-missing", 1, 1),
                ],
            ),
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
            (
                "Component \"c.example\" { component_secret = \"0123456789abcdef0\" }\nComponent \"C.example\" { component_secret = \"0123456789abcdef1\" }\n",
                &[("duplicate-component-secret", 2, 1)],
            ),
            // A block without a secret has the other block's: no missing secret.
            (
                "Component \"c.example\"\nComponent \"c.example\"\ncomponent_secret = \"0123456789abcdef0\"\n",
                &[("duplicate-component", 2, 1)],
            ),
            // The second block sets no secret: the first one's stands.
            (
                "Component \"c.example\"\ncomponent_secret = \"0123456789abcdef0\"\nComponent \"c.example\"\n",
                &[("duplicate-component", 3, 1)],
            ),
            // Reported once per component, at the name of its first block.
            (
                "Component \"C.example\" { component_secret = \"0123456789abcdef0\" }\nComponent \"c.example\"\n",
                &[("component-name-spelling", 1, 11), ("duplicate-component", 2, 1)],
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
