//! What `check` reports, and how: a finding has a code (part of the
//! contract, [`Code`]), the severity of its code, the file, line and column
//! it is about (compiler style), and a subject (`Subject`) that identifies
//! it across an edit. The rules themselves are in `rules`; prosody's own
//! loader's verdict and the loading errors become findings here.

use std::path::{Path, PathBuf};

use crate::prosody::config::LoadError;
use crate::text::terminal_safe;

/// The codes, their severities and descriptions: written once, for this
/// module, `check --help` and the man page (`src/cli.rs` includes it).
mod codes;
mod note;
mod relocate;
mod rules;
pub(crate) mod secret_refs;

pub use codes::{Code, Severity};
pub use note::Note;
pub(crate) use relocate::Splices;
pub use rules::Opaque;
pub(crate) use rules::{check, secret_opaque_anywhere, secret_opaque_in, weak_secret};

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a finding is about, in terms an edit does not move: with the code,
/// it is the finding's identity (see [`new_errors`]). Never shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// A file, as the config names it (the main config, an Include).
    File(PathBuf),
    /// A `VirtualHost`/`Component`, by the name prosody compares: its
    /// bytes after nameprep (hosts are one namespace across all files).
    Host(Vec<u8>),
    /// An option of file `file`, in the section of that name (after
    /// nameprep; `None` for the global section).
    Option {
        file: PathBuf,
        section: Option<Vec<u8>>,
        name: String,
    },
    /// Code the model cannot follow: the name it uses (`rawset`, `_ENV`,
    /// or the option it sets) in file `file`.
    Code { file: PathBuf, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub(crate) code: Code,
    #[serde(skip)]
    pub(crate) subject: Subject,
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub(crate) file: PathBuf,
    pub line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) help: Option<String>,
    /// The lines of the config the message and help name (another block's
    /// line, say): an edit that is not written points them at the file on
    /// disk too (see [`Splices`]).
    #[serde(skip)]
    pub(crate) refs: Vec<LineRef>,
}

/// A line of a file that a finding's message names, as `{prefix}{line}`
/// (`(line 4`, `/etc/prosody/prosody.cfg.lua:4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineRef {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) prefix: String,
}

impl Diagnostic {
    /// A finding of `code` (with its severity) about `subject`, at
    /// `file:line:column` (line and column 0: no position).
    pub(crate) fn new(
        code: Code,
        subject: Subject,
        (file, line, column): (PathBuf, usize, usize),
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            severity: code.severity(),
            code,
            subject,
            file,
            line,
            column,
            message,
            help: None,
            refs: Vec::new(),
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The same finding before and after an edit, wherever it moved.
    pub(crate) fn identity(&self) -> (Code, &Subject) {
        (self.code, &self.subject)
    }
}

impl Diagnostic {
    /// `FILE:LINE:COLUMN: error[CODE]: message`, then the help on its own
    /// line or, for a log of one line per problem, in parentheses.
    fn write(&self, f: &mut std::fmt::Formatter<'_>, one_line: bool) -> std::fmt::Result {
        let sev = self.severity;
        // Line 0 means "no position" (an unreadable file, a load error
        // prosody reports without a line): `FILE:0:0:` would send an editor
        // to a place that does not exist, so only the file is named.
        write!(f, "{}:", terminal_safe(&self.file.display().to_string()))?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column.max(1))?;
        }
        write!(f, " {sev}[{}]: {}", self.code, terminal_safe(&self.message))?;
        match &self.help {
            Some(h) if one_line => write!(f, " (help: {})", terminal_safe(h)),
            Some(h) => write!(f, "\n  help: {}", terminal_safe(h)),
            None => Ok(()),
        }
    }

    /// The finding on one line, the help in parentheses (for the journal).
    pub fn one_line(&self) -> impl std::fmt::Display + '_ {
        struct OneLine<'d>(&'d Diagnostic);
        impl std::fmt::Display for OneLine<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.write(f, true)
            }
        }
        OneLine(self)
    }
}

impl std::fmt::Display for Diagnostic {
    /// `FILE:LINE:COLUMN: error[CODE]: message`, then `help: …` on its own
    /// line; control characters from the config (in a path, a name) escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, false)
    }
}

/// A message from Lua (prosody's loader) without the text of a string
/// token: Lua says `near '"S"'` (or `near '[[S'`), and S may be a secret.
pub(crate) fn without_string_tokens(message: &str) -> String {
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

/// A config that cannot be loaded, as diagnostics: the first error, and
/// after a `#` comment every further `#` comment line and the next other
/// syntax error (see `SyntaxError::also`), so that one `check` names every
/// line to fix.
pub(crate) fn from_load_errors(e: &LoadError) -> Vec<Diagnostic> {
    let first = from_load_error(e);
    let LoadError::Syntax { path, error } = e else {
        return vec![first];
    };
    let mut all = vec![first];
    all.extend(error.also.iter().map(|a| Diagnostic {
        help: a.help.clone(),
        ..Diagnostic::new(
            Code::Syntax,
            Subject::File(path.clone()),
            (path.clone(), a.line, a.column),
            a.message.clone(),
        )
    }));
    all
}

/// A config that cannot be loaded, as one diagnostic (its first error).
pub(crate) fn from_load_error(e: &LoadError) -> Diagnostic {
    // Each is about the file that cannot be loaded, at the place naming it.
    let about = |path: &Path| Subject::File(path.to_path_buf());
    match e {
        LoadError::Syntax { path, error } => Diagnostic {
            help: error.help.clone(),
            ..Diagnostic::new(
                Code::Syntax,
                about(path),
                (path.clone(), error.line, error.column),
                error.message.clone(),
            )
        },
        LoadError::Unreadable { path, from: Some(at), message, kind } => Diagnostic::new(
            Code::IncludeMissing,
            about(path),
            at.clone(),
            format!("cannot read the included {}: {message}", path.display()),
        )
        .with_help(if *kind == std::io::ErrorKind::NotFound {
            "prosody refuses to start when a named Include is missing; fix the path or remove the line"
        } else {
            "fix the file or remove the Include line"
        }),
        LoadError::Unreadable { path, from: None, message, kind } => Diagnostic {
            help: (*kind == std::io::ErrorKind::PermissionDenied)
                .then(|| "run with sudo, or as a user who may read it".into()),
            ..Diagnostic::new(
                Code::Unreadable,
                about(path),
                (path.clone(), 0, 0),
                format!("cannot read {}: {message}", path.display()),
            )
        },
        LoadError::IncludeTooDeep { path, from } => Diagnostic::new(
            Code::IncludeLoop,
            about(path),
            from.clone(),
            format!("including {} nests Includes more than {} deep; prosody fails with \"C stack overflow\" at about 196", path.display(), crate::prosody::config::MAX_INCLUDE_DEPTH),
        ),
        LoadError::IncludeLoop { path, from } => Diagnostic::new(
            Code::IncludeLoop,
            about(path),
            from.clone(),
            format!("{} is included again while it is being loaded; prosody would recurse until it fails", path.display()),
        ),
    }
}

/// Errors in `after` that `before` did not have: what an edit must not
/// introduce. Compared by identity (code and subject), not by position or
/// text, which an edit shifts (a message may name another host's line).
/// As many as `before` had of one identity are old; one more is new.
pub(crate) fn new_errors(before: &[Diagnostic], after: &[Diagnostic]) -> Vec<Diagnostic> {
    // Counts in a map, not a list: a config may carry 100,000 old errors.
    let mut old: std::collections::HashMap<(Code, &Subject), usize> =
        std::collections::HashMap::new();
    for d in before.iter().filter(|d| d.severity == Severity::Error) {
        *old.entry(d.identity()).or_default() += 1;
    }
    after
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| match old.get_mut(&d.identity()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

/// The outcome of `check`; its JSON form is part of the contract.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    /// Every file read: the main config and what it includes.
    #[serde(serialize_with = "crate::prosody::config::json_path::many")]
    pub files: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
    /// What was not checked, and why (e.g. prosody is not installed).
    #[serde(skip)]
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Also load the config with the installed prosody's configmanager.
    pub with_prosody: bool,
    /// Warnings count as errors.
    pub strict: bool,
}

/// prosody's own verdict as a diagnostic (`None` when it loads). An error
/// raised inside prosody's code (a glob over a missing directory, say)
/// names prosody's file: it is pointed at the main config instead.
pub(crate) fn from_prosody_verdict(
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
    // prosody names files by the absolute path it was given (see
    // `prosody::absolute`): show them as the operator named them.
    let named = |f: &PathBuf| {
        files
            .iter()
            .find(|g| *g == f || crate::prosody::absolute(g) == *f)
            .cloned()
    };
    let (file, line, message) = match file {
        Some(f) if named(&f).is_some() => (named(&f).expect("just found"), line, message),
        Some(f) => (
            main.to_path_buf(),
            None,
            format!("{}:{}: {message}", f.display(), line.unwrap_or(0)),
        ),
        None => (main.to_path_buf(), None, message),
    };
    // prosody 0.12 has no Credential()/FileContents()/FileLine()/FileLines().
    let helper = ["Credential", "FileContents", "FileLine", "FileLines"]
        .into_iter()
        .find(|h| message.contains(&format!("(global '{h}')")));
    let d = Diagnostic::new(
        Code::ProsodyLoad,
        Subject::File(file.clone()),
        (file, line.unwrap_or(0), line.map_or(0, |_| 1)),
        format!(
            "prosody cannot load the config: {}",
            without_string_tokens(&message)
        ),
    );
    Some(match helper {
        Some(h) => d.with_help(format!("{h}() is prosody 13's; the installed prosody does not have it: write the secret as a string (fogbow-xmpp-ctl add NAME --secret-file FILE --replace), or upgrade prosody")),
        None => d,
    })
}

#[cfg(test)]
mod new_error_tests {
    use super::*;

    fn d(code: Code, host: &str, line: usize, message: &str) -> Diagnostic {
        Diagnostic::new(
            code,
            Subject::Host(host.into()),
            ("/p.cfg.lua".into(), line, 1),
            message.into(),
        )
    }

    #[test]
    fn only_errors_the_edit_introduced_count() {
        let before = vec![
            d(Code::ComponentSecretMissing, "c.example", 3, "x"),
            d(Code::WeakSecret, "w.example", 2, "w"),
        ];
        // The same error moved by the edit is not new; a new warning is not an error.
        let after = vec![
            d(Code::ComponentSecretMissing, "c.example", 7, "x"),
            d(Code::DuplicateOption, "v.example", 9, "dup"),
            d(Code::HostClash, "a.example", 12, "clash"),
        ];
        let new = new_errors(&before, &after);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].code, Code::HostClash);
    }

    /// A message that names another host's `file:line` changes
    /// when an edit moves that host; the finding is the same one.
    #[test]
    fn identity_is_code_and_subject_not_text() {
        let before = [d(Code::HostClash, "a.example", 5, "at p.cfg.lua:4")];
        let after = [d(Code::HostClash, "a.example", 2, "at p.cfg.lua:1")];
        assert!(new_errors(&before, &after).is_empty());
        // Another subject, or another code, is another finding.
        let other = [
            d(Code::HostClash, "b.example", 5, "at p.cfg.lua:4"),
            d(
                Code::ComponentSecretMissing,
                "a.example",
                5,
                "at p.cfg.lua:4",
            ),
        ];
        assert_eq!(new_errors(&before, &other).len(), 2);
        // One more of an identity the config had is new.
        let twice = [before[0].clone(), after[0].clone()];
        assert_eq!(new_errors(&before, &twice).len(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagnostic without a position names only its file, never
    /// `FILE:0:0`.
    #[test]
    fn no_position_is_not_line_zero() {
        let main = PathBuf::from("/etc/prosody/prosody.cfg.lua");
        let mut d = Diagnostic::new(
            Code::ProsodyLoad,
            Subject::File(main.clone()),
            (main, 0, 0),
            "prosody cannot load the config: boom".into(),
        );
        assert_eq!(
            d.to_string(),
            "/etc/prosody/prosody.cfg.lua: error[prosody-load]: prosody cannot load the config: boom"
        );
        d.line = 3;
        d.column = 1;
        assert!(d
            .to_string()
            .starts_with("/etc/prosody/prosody.cfg.lua:3:1: error"));
        d.help = Some("fix it".into());
        assert_eq!(
            d.one_line().to_string(),
            "/etc/prosody/prosody.cfg.lua:3:1: error[prosody-load]: prosody cannot load the config: boom (help: fix it)"
        );
        assert!(d.to_string().ends_with("boom\n  help: fix it"));
    }

    /// README's table of codes (the contract) lists exactly the codes,
    /// in their order, with their severities.
    #[test]
    fn readme_lists_every_code() {
        let table: Vec<(&str, &str)> = include_str!("../README.md")
            .lines()
            .skip_while(|l| *l != "| code | severity | what |")
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`'), cells[2])
            })
            .collect();
        let codes: Vec<(&str, &str)> = Code::ALL
            .iter()
            .map(|c| (c.as_str(), c.severity().as_str()))
            .collect();
        assert_eq!(table, codes);
        // `ALL` is every code once, in the order they are declared.
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c}");
        }
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
}
