//! prosody's config as prosody loads it: the main file and every file it
//! `Include`s, in the order prosody runs them.
//!
//! Includes resolve like prosody 0.12's `core/configmanager.lua`: a relative
//! path is relative to the directory of the file holding the `Include`; a `*`
//! or `?` in the last path element is a glob over that directory, in raw
//! directory order (as `lfs.dir` gives it), skipping names that start with
//! `.`; a missing named file or glob directory is fatal, a glob matching
//! nothing is fine. Each included file starts in the global section.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::document::{Document, SectionHeader, SectionKind, Statement, SyntaxError, Value};

/// One loaded file.
#[derive(Debug)]
pub struct ConfigFile {
    /// The path as prosody names it (what messages should show).
    pub path: PathBuf,
    /// Where the bytes live: symlinks resolved, so edits replace the target
    /// and keep Debian's `conf.d` → `conf.avail` links.
    pub real_path: PathBuf,
    pub doc: Document,
}

/// Why the config cannot be loaded: the first fatal problem, positioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// A file (the main one, or a named include) cannot be read.
    Unreadable {
        path: PathBuf,
        /// The `Include` that names it: file, line, column.
        from: Option<(PathBuf, usize, usize)>,
        message: String,
        kind: std::io::ErrorKind,
    },
    Syntax {
        path: PathBuf,
        error: SyntaxError,
    },
    /// An include cycle: prosody would recurse until Lua's stack overflows.
    IncludeLoop {
        path: PathBuf,
        from: (PathBuf, usize, usize),
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable {
                path,
                from: Some((file, line, col)),
                message,
                ..
            } => {
                write!(
                    f,
                    "{}:{line}:{col}: cannot read the included file {}: {message}",
                    file.display(),
                    path.display()
                )
            }
            LoadError::Unreadable {
                path,
                from: None,
                message,
                ..
            } => write!(f, "cannot read {}: {message}", path.display()),
            LoadError::Syntax { path, error } => write!(
                f,
                "{}:{}:{}: {}",
                path.display(),
                error.line,
                error.column,
                error.message
            ),
            LoadError::IncludeLoop {
                path,
                from: (file, line, col),
            } => {
                write!(
                    f,
                    "{}:{line}:{col}: {} includes itself (directly or through other files)",
                    file.display(),
                    path.display()
                )
            }
        }
    }
}

/// A statement's place in the run: which file, which statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct At {
    pub file: usize,
    pub stmt: usize,
}

#[derive(Debug)]
pub struct ConfigSet {
    pub files: Vec<ConfigFile>,
    /// Every top-level statement of every file, in the order prosody runs
    /// them, as runs of statements of one file (see [`ConfigSet::order`]).
    runs: Vec<(usize, std::ops::Range<usize>)>,
    /// Includes whose path is an expression: prosody follows them, we cannot.
    pub unresolved_includes: Vec<At>,
}

/// A `VirtualHost` or `Component` statement, with what its section sets.
/// Small (a config may have 100,000 of them): the rest is read from the
/// document on demand.
#[derive(Debug, Clone, Copy)]
pub struct Host<'s> {
    pub kind: SectionKind,
    pub at: At,
    doc: &'s Document,
}

impl<'s> Host<'s> {
    fn header(&self) -> SectionHeader<'s> {
        self.doc.section(self.at.stmt).expect("a host is a section")
    }
    pub fn name(&self) -> Value<'s> {
        self.header().name
    }
    /// The plugin of `Component "x" "muc"`.
    pub fn module(&self) -> Option<Value<'s>> {
        self.header().module
    }
    /// The value of the section's last `component_secret` (the one prosody
    /// keeps). A section never continues into another file: each file
    /// starts in the global one.
    pub fn secret(&self) -> Option<Value<'s>> {
        self.doc
            .last_section_option(self.at.stmt, "component_secret")
            .and_then(|id| self.doc.option(id).value)
    }
    /// The line of the `VirtualHost`/`Component` statement.
    pub fn line(&self) -> usize {
        self.doc.line_col(self.doc.stmt_span(self.at.stmt).start).0
    }
    /// The literal name, if the name is a plain string.
    pub fn literal_name(&self) -> Option<String> {
        self.name()
            .literal()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// An external (XEP-0114) component: a `Component` without a plugin module.
    pub fn is_external(&self) -> bool {
        self.kind == SectionKind::Component && self.module().is_none()
    }
}

impl ConfigSet {
    /// Loads `main` and its includes from disk.
    pub fn load(main: &Path) -> Result<ConfigSet, LoadError> {
        Self::load_with(main, HashMap::new())
    }

    /// Loads with some files' bytes replaced (keyed by real path): how an
    /// edit is checked *as if it stood at the original's path*, so relative
    /// includes resolve against the original directory. The bytes are moved
    /// in, not copied: a large config is held once.
    pub fn load_with(
        main: &Path,
        mut overlay: HashMap<PathBuf, Vec<u8>>,
    ) -> Result<ConfigSet, LoadError> {
        let mut set = ConfigSet {
            files: Vec::new(),
            runs: Vec::new(),
            unresolved_includes: Vec::new(),
        };
        let mut stack = Vec::new();
        set.load_file(main, None, &mut overlay, &mut stack)?;
        Ok(set)
    }

    /// Every top-level statement of every file, in the order prosody runs them.
    pub fn order(&self) -> impl Iterator<Item = At> + '_ {
        self.runs
            .iter()
            .flat_map(|(file, r)| r.clone().map(|stmt| At { file: *file, stmt }))
    }

    fn push_order(&mut self, file: usize, stmt: usize) {
        match self.runs.last_mut() {
            Some((f, r)) if *f == file && r.end == stmt => r.end += 1,
            _ => self.runs.push((file, stmt..stmt + 1)),
        }
    }

    fn load_file(
        &mut self,
        path: &Path,
        from: Option<(PathBuf, usize, usize)>,
        overlay: &mut HashMap<PathBuf, Vec<u8>>,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        let unreadable =
            |e: std::io::Error, from: Option<(PathBuf, usize, usize)>| LoadError::Unreadable {
                path: path.to_path_buf(),
                from,
                message: crate::secret::plain_io(&e),
                kind: e.kind(),
            };
        let real_path = std::fs::canonicalize(path).map_err(|e| unreadable(e, from.clone()))?;
        if stack.contains(&real_path) {
            return Err(LoadError::IncludeLoop {
                path: path.to_path_buf(),
                from: from.expect("the main file is not included"),
            });
        }
        // A file included twice reads the same both times (and an edited
        // one, moved out of the overlay on first use, stays edited).
        let loaded = self.files.iter().find(|f| f.real_path == real_path);
        let bytes = match overlay.remove(&real_path) {
            Some(b) => b,
            None if loaded.is_some() => loaded.expect("just checked").doc.text().to_vec(),
            None => std::fs::read(&real_path).map_err(|e| unreadable(e, from.clone()))?,
        };
        let doc = Document::parse(bytes).map_err(|error| LoadError::Syntax {
            path: path.to_path_buf(),
            error,
        })?;
        let file = self.files.len();
        let includes: Vec<(usize, Option<Vec<u8>>, usize)> = doc
            .statements()
            .enumerate()
            .filter_map(|(i, s)| match &s.statement {
                Statement::Include(v) => Some((i, v.literal(), s.span.start)),
                _ => None,
            })
            .collect();
        let n = doc.statement_count();
        self.files.push(ConfigFile {
            path: path.to_path_buf(),
            real_path: real_path.clone(),
            doc,
        });
        stack.push(real_path);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut next_include = includes.into_iter().peekable();
        for stmt in 0..n {
            self.push_order(file, stmt);
            let Some((_, target, offset)) = next_include.next_if(|(i, _, _)| *i == stmt) else {
                continue;
            };
            let (line, col) = self.files[file].doc.line_col(offset);
            let from = Some((path.to_path_buf(), line, col));
            let Some(target) = target else {
                self.unresolved_includes.push(At { file, stmt });
                continue;
            };
            let target = PathBuf::from(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&target),
            );
            for included in
                expand_include(&dir, &target).map_err(|e| unreadable_at(e, from.clone()))?
            {
                self.load_file(&included, from.clone(), overlay, stack)?;
            }
        }
        stack.pop();
        Ok(())
    }

    /// Every `VirtualHost`/`Component` statement, in the order prosody runs them.
    pub fn hosts(&self) -> impl Iterator<Item = Host<'_>> + '_ {
        self.order()
            .filter(|at| self.files[at.file].doc.is_section(at.stmt))
            .map(|at| self.host(at))
    }

    /// How many `VirtualHost`/`Component` statements the files have.
    pub fn host_count(&self) -> usize {
        self.files.iter().map(|f| f.doc.section_count()).sum()
    }

    /// The host opened by the statement at `at`, which must be a section.
    pub fn host(&self, at: At) -> Host<'_> {
        let doc = &self.files[at.file].doc;
        let header = doc.section(at.stmt).expect("a host is a section");
        Host {
            kind: header.kind,
            at,
            doc,
        }
    }

    /// The hosts whose literal name is `name` to prosody: compared after
    /// nameprep, as prosody compares them.
    pub fn hosts_named(&self, name: &str) -> Vec<Host<'_>> {
        let want = crate::names::fold(name.as_bytes());
        self.hosts()
            .filter(|h| {
                h.name()
                    .literal()
                    .is_some_and(|n| crate::names::fold(&n) == want)
            })
            .collect()
    }
}

fn unreadable_at(e: (PathBuf, std::io::Error), from: Option<(PathBuf, usize, usize)>) -> LoadError {
    LoadError::Unreadable {
        path: e.0,
        from,
        message: crate::secret::plain_io(&e.1),
        kind: e.1.kind(),
    }
}

/// The files an `Include` of `target` loads, relative to `dir`.
fn expand_include(dir: &Path, target: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let text = target.to_string_lossy();
    if !text.contains(['*', '?']) {
        return Ok(vec![dir.join(target)]);
    }
    // Only the last path element is a pattern, as in prosody.
    let (base, pattern) = match text.rfind('/') {
        Some(i) => (dir.join(&text[..i.max(1)]), &text[i + 1..]),
        None => (dir.to_path_buf(), &text[..]),
    };
    let entries = std::fs::read_dir(&base).map_err(|e| (base.clone(), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| (base.clone(), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && glob_match(pattern.as_bytes(), name.as_bytes()) {
            out.push(base.join(&*name));
        }
    }
    Ok(out)
}

/// prosody's `glob_to_pattern`: `*` is any run, `?` any one byte, the rest literal.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_match(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fxc-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.cfg.lua", b"localhost.cfg.lua"));
        assert!(!glob_match(b"*.cfg.lua", b"localhost.cfg.lua~"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
    }

    #[test]
    fn includes_like_prosody() {
        let d = scratch("inc");
        std::fs::create_dir_all(d.join("conf.avail")).unwrap();
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        std::fs::write(
            d.join("conf.avail/x.cfg.lua"),
            "Component \"x.example\"\n\tcomponent_secret = \"s\"\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("../conf.avail/x.cfg.lua", d.join("conf.d/x.cfg.lua")).unwrap();
        std::fs::write(d.join("conf.d/.hidden.cfg.lua"), "this is not lua").unwrap();
        std::fs::write(d.join("conf.d/notes.txt"), "neither").unwrap();
        std::fs::write(d.join("main.cfg.lua"), "VirtualHost \"localhost\"\nInclude \"conf.d/*.cfg.lua\"\nInclude \"conf.d/none*.lua\"\n").unwrap();
        let set = ConfigSet::load(&d.join("main.cfg.lua")).unwrap();
        assert_eq!(set.files.len(), 2);
        assert_eq!(set.files[1].path, d.join("conf.d/x.cfg.lua"));
        assert_eq!(
            set.files[1].real_path,
            std::fs::canonicalize(d.join("conf.avail/x.cfg.lua")).unwrap()
        );
        let hosts = set.hosts_named("X.example");
        assert_eq!(hosts.len(), 1);
        assert_eq!((hosts[0].line(), hosts[0].at.file), (1, 1));
        assert_eq!(
            hosts[0].secret().unwrap().literal().as_deref(),
            Some(&b"s"[..])
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_include_and_loops_are_fatal() {
        let d = scratch("missing");
        std::fs::write(d.join("main.cfg.lua"), "x = 1\nInclude \"nope.cfg.lua\"\n").unwrap();
        let e = ConfigSet::load(&d.join("main.cfg.lua"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("main.cfg.lua:2:1: cannot read the included file")
                && e.contains("nope.cfg.lua"),
            "{e}"
        );
        std::fs::write(d.join("main.cfg.lua"), "Include \"missing-dir/*.lua\"\n").unwrap();
        assert!(ConfigSet::load(&d.join("main.cfg.lua")).is_err());
        std::fs::write(d.join("main.cfg.lua"), "Include \"main.cfg.lua\"\n").unwrap();
        let e = ConfigSet::load(&d.join("main.cfg.lua"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("includes itself"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_included_twice_reads_the_same_both_times() {
        let d = scratch("twice");
        std::fs::write(d.join("inc.lua"), "Component \"i.example\"\n").unwrap();
        let main = d.join("main.cfg.lua");
        std::fs::write(&main, "Include \"inc.lua\"\nInclude \"inc.lua\"\n").unwrap();
        let set = ConfigSet::load(&main).unwrap();
        assert_eq!(set.files.len(), 3);
        assert_eq!(set.hosts_named("i.example").len(), 2);
        // An edited file, moved out of the overlay on first use, stays
        // edited where it is included again.
        let real = std::fs::canonicalize(d.join("inc.lua")).unwrap();
        let overlay = HashMap::from([(real, b"Component \"j.example\"\n".to_vec())]);
        let set = ConfigSet::load_with(&main, overlay).unwrap();
        assert_eq!(set.hosts_named("i.example").len(), 0);
        assert_eq!(set.hosts_named("j.example").len(), 2);
        let order: Vec<At> = set.order().collect();
        assert_eq!(
            order,
            [(0, 0), (1, 0), (0, 1), (2, 0)]
                .map(|(file, stmt)| At { file, stmt })
                .to_vec(),
            "run order: each Include's file runs where the Include stands"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn overlay_is_checked_in_place() {
        let d = scratch("overlay");
        std::fs::write(d.join("inc.lua"), "Component \"i.example\"\n").unwrap();
        std::fs::write(d.join("main.cfg.lua"), "x = 1\n").unwrap();
        let real = std::fs::canonicalize(d.join("main.cfg.lua")).unwrap();
        let overlay = HashMap::from([(real, b"Include \"inc.lua\"\n".to_vec())]);
        let set = ConfigSet::load_with(&d.join("main.cfg.lua"), overlay).unwrap();
        assert_eq!(set.hosts_named("i.example").len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
