//! How the read-only commands (`list`, `probe`, `status`, `doctor`) read a
//! config that does not load: exactly when an operator needs them most.
//!
//! Only edits refuse a broken config (an edit must know the whole file it
//! rewrites). A reading command reads what parses: each problem that stops
//! the load (a syntax error, an `Include` of a missing file, an include
//! loop) is recorded as its `check` diagnostic, the line (or the `Include`
//! statement) is blanked *in memory* (spaces, line breaks kept, so every
//! other line and column stays where it is) and the load is tried again.
//! When nothing useful parses that way (the main config cannot be read, or
//! the repairs do not converge), the last good backup of the main config is
//! read instead, and the output says so. Either way the breakage is part of
//! the result ([`Breakage`]), shown first, and the command exits 1: a broken
//! config never looks healthy to a script.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Context;
use crate::diagnostics::{self, Diagnostic};
use crate::document::{lines, Document, Statement};
use crate::error::Error;
use crate::prosody::config::{ConfigSet, LoadError};
use crate::safe_write;

/// At most this many problems are stepped over before giving up on the
/// file: each costs a load, and a file with more is not "mostly fine".
const MAX_REPAIRS: usize = 50;

/// How many backups, newest first, are tried for the last good one.
const MAX_BACKUPS_TRIED: usize = 20;

/// Where the data shown comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// The config as it is: it loads.
    #[default]
    Config,
    /// What parses of the config: the lines in `skipped` left out.
    Partial,
    /// The last good backup of the main config.
    Backup,
}

/// A line left out of a partial reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Skipped {
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
}

/// Whether the config loads, and if not, what is shown instead and why.
/// Flattened into the JSON of every read-only command: `"broken"` and
/// `"source"` always, the rest only when broken (additive fields).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakage {
    pub broken: bool,
    pub(crate) source: Source,
    /// What stops the config from loading, as `check` reports it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) skipped: Vec<Skipped>,
    /// With `"source": "backup"`: which backup, and when it was made (UTC).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::prosody::config::json_path::opt"
    )]
    pub(crate) backup: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backup_date: Option<String>,
}

impl Breakage {
    /// The sentence shown after the diagnostics, before the data; `None`
    /// when the config loads.
    pub fn summary(&self, config: &Path) -> Option<String> {
        match self.source {
            Source::Config => None,
            Source::Partial => {
                let lines: Vec<String> = self
                    .skipped
                    .iter()
                    .map(|s| format!("{}:{}", s.file.display(), s.line))
                    .collect();
                Some(format!(
                    "the config is broken: showing what parses of it (left out: {}); edits are refused until it is fixed (fogbow-xmpp-ctl check)",
                    lines.join(", ")
                ))
            }
            Source::Backup => Some(format!(
                "the config is broken: showing the last good backup {}, the config as it was before the edit of {} (anything written since is not in it), not {}; fix the config (fogbow-xmpp-ctl check), or put the backup back (fogbow-xmpp-ctl restore)",
                self.backup
                    .as_deref()
                    .unwrap_or(Path::new("?"))
                    .display(),
                self.backup_date.as_deref().unwrap_or("an unknown date"),
                config.display()
            )),
        }
    }
}

/// The config as a read-only command sees it.
pub(super) struct Reading {
    pub(crate) set: ConfigSet,
    pub(crate) breakage: Breakage,
}

/// Reads the config for a read-only command: all of it, or what parses of
/// it, or its last good backup; an error only when none of these loads.
pub(super) fn read(ctx: &Context) -> Result<Reading, Error> {
    let first = match ConfigSet::load(&ctx.config) {
        Ok(set) => {
            return Ok(Reading {
                set,
                breakage: Breakage::default(),
            })
        }
        Err(e) => e,
    };
    if let Some((set, diagnostics, skipped)) = read_around(&ctx.config, HashMap::new(), &first) {
        return Ok(Reading {
            set,
            breakage: Breakage {
                broken: true,
                source: Source::Partial,
                diagnostics,
                skipped,
                ..Breakage::default()
            },
        });
    }
    if let Some((set, backup, skipped)) = last_good_backup(ctx) {
        return Ok(Reading {
            set,
            breakage: Breakage {
                broken: true,
                source: Source::Backup,
                diagnostics: vec![diagnostics::from_load_error(&first)],
                skipped,
                backup_date: safe_write::time_of(&backup),
                backup: Some(backup),
            },
        });
    }
    // Nothing to show: the error as an edit would report it.
    Err(super::pipeline::load_config(&ctx.config)
        .err()
        .unwrap_or_else(|| Error::refused(crate::error::refusal::Edit::DoesNotLoad)))
}

/// Loads `main` stepping over each problem that stops the load, starting
/// from `first`: returns the set, the problems (as diagnostics) and the
/// lines left out, or `None` when that does not work.
fn read_around(
    main: &Path,
    mut overlay: HashMap<PathBuf, Vec<u8>>,
    first: &LoadError,
) -> Option<(ConfigSet, Vec<Diagnostic>, Vec<Skipped>)> {
    let mut diagnostics = Vec::new();
    let mut skipped = Vec::new();
    let mut err = first.clone();
    for _ in 0..MAX_REPAIRS {
        diagnostics.push(diagnostics::from_load_error(&err));
        skipped.push(step_over(&mut overlay, &err)?);
        match ConfigSet::load_with(main, overlay.clone()) {
            Ok(set) => return Some((set, diagnostics, skipped)),
            Err(e) => err = e,
        }
    }
    None
}

/// Blanks, in `overlay`, what `err` stops at: the line of a syntax error
/// (for an unfinished long string or comment, the line where it starts),
/// or the `Include` statement of a file that cannot be included. `None`
/// when there is nothing left to blank there.
fn step_over(overlay: &mut HashMap<PathBuf, Vec<u8>>, err: &LoadError) -> Option<Skipped> {
    match err {
        LoadError::Syntax { path, error } => {
            let line = starting_line(&error.message).unwrap_or(error.line);
            let text = text_of(overlay, path)?;
            let starts = lines::line_starts(text);
            // The line, or the nearest one above it with something on it:
            // an error at the end of the file (an unfinished block) is
            // about what comes before.
            let line = (1..=line.min(starts.len()))
                .rev()
                .find(|&l| !line_range(text, &starts, l).all(|i| text[i].is_ascii_whitespace()))?;
            let mut range = line_range(text, &starts, line);
            // A `#` comment (meant as `--`): only the comment goes, so
            // `component_secret = "…" # why` keeps its secret.
            if error.line == line
                && text.get(error.offset) == Some(&b'#')
                && range.contains(&error.offset)
            {
                range.start = error.offset;
            }
            blank(text, range);
            Some(Skipped {
                file: path.clone(),
                line,
            })
        }
        LoadError::Unreadable {
            from: Some((file, line, col)),
            ..
        }
        | LoadError::IncludeLoop {
            from: (file, line, col),
            ..
        }
        | LoadError::IncludeTooDeep {
            from: (file, line, col),
            ..
        } => {
            let text = text_of(overlay, file)?;
            let doc = Document::parse(text.clone()).ok()?;
            let span = doc
                .statements()
                .find(|s| {
                    matches!(s.statement, Statement::Include(_))
                        && doc.line_col(s.span.start) == (*line, *col)
                })?
                .span;
            blank(text, span);
            Some(Skipped {
                file: file.clone(),
                line: *line,
            })
        }
        LoadError::Unreadable { from: None, .. } => None,
    }
}

/// The bytes of `path` as the next load will read them (read from disk on
/// first use), keyed by real path as [`ConfigSet::load_with`] wants.
fn text_of<'o>(overlay: &'o mut HashMap<PathBuf, Vec<u8>>, path: &Path) -> Option<&'o mut Vec<u8>> {
    let real = std::fs::canonicalize(path).ok()?;
    if !overlay.contains_key(&real) {
        let bytes = crate::prosody::config::read_config_file(&real).ok()?;
        overlay.insert(real.clone(), bytes);
    }
    overlay.get_mut(&real)
}

/// Byte offsets of 1-based `line`, without its line break.
fn line_range(text: &[u8], starts: &[u32], line: usize) -> std::ops::Range<usize> {
    let start = starts[line - 1] as usize;
    let end = starts.get(line).map_or(text.len(), |&s| s as usize);
    let mut end = end;
    while end > start && lines::is_line_break(text[end - 1]) {
        end -= 1;
    }
    start..end
}

/// Spaces for every byte but line breaks: the rest of the file keeps its
/// lines and columns.
fn blank(text: &mut [u8], range: std::ops::Range<usize>) {
    for b in &mut text[range] {
        if !lines::is_line_break(*b) {
            *b = b' ';
        }
    }
}

/// `N` of Lua's "unfinished long string (starting at line N)".
fn starting_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("(starting at line ")? + "(starting at line ".len()..];
    rest[..rest.find(')')?].parse().ok()
}

/// The newest backup of the main config that loads in its place (or, when
/// the main config is gone, on its own, stepping over what does not load).
fn last_good_backup(ctx: &Context) -> Option<(ConfigSet, PathBuf, Vec<Skipped>)> {
    let real = std::fs::canonicalize(&ctx.config).ok().or_else(|| {
        // A bare file name's parent is "": the working directory.
        let parent = ctx.config.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
        Some(dir.join(ctx.config.file_name()?))
    })?;
    let backups = safe_write::list_backups(&ctx.settings.backup_dir, &real).ok()?;
    let main_exists = real.exists();
    for b in backups.iter().rev().take(MAX_BACKUPS_TRIED) {
        // Not a file another user could have planted.
        let Ok(bytes) = safe_write::read_backup(b) else {
            continue;
        };
        if main_exists {
            let overlay = HashMap::from([(real.clone(), bytes)]);
            if let Ok(set) = ConfigSet::load_with(&ctx.config, overlay) {
                return Some((set, b.clone(), Vec::new()));
            }
        } else {
            match ConfigSet::load(b) {
                Ok(set) => return Some((set, b.clone(), Vec::new())),
                Err(e) => {
                    if let Some((set, _, skipped)) = read_around(b, HashMap::new(), &e) {
                        return Some((set, b.clone(), skipped));
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_string_start_is_read_from_the_message() {
        assert_eq!(
            starting_line("unfinished long string (starting at line 3)"),
            Some(3)
        );
        assert_eq!(starting_line("unexpected symbol near '#'"), None);
    }

    #[test]
    fn blanking_keeps_lines_and_columns() {
        let mut t = b"a = 1\r\n# x\nb = 2".to_vec();
        let starts = lines::line_starts(&t);
        let r = line_range(&t, &starts, 2);
        blank(&mut t, r);
        assert_eq!(t, b"a = 1\r\n   \nb = 2");
    }
}
