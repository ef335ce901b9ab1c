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

use crate::document::{Document, SectionKind, Span, Statement, SyntaxError, Value};

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
    /// Every top-level statement of every file, in the order prosody runs them.
    pub order: Vec<At>,
    /// Includes whose path is an expression: prosody follows them, we cannot.
    pub unresolved_includes: Vec<At>,
}

/// Where a value is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub file: usize,
    pub span: Span,
}

/// A `VirtualHost` or `Component` statement, with what its section sets.
#[derive(Debug, Clone)]
pub struct Host {
    pub kind: SectionKind,
    pub at: At,
    pub line: usize,
    pub column: usize,
    pub name: Value,
    pub module: Option<Value>,
    /// The last `component_secret` set in this section, if any.
    pub secret: Option<Located<Value>>,
}

impl Host {
    /// The literal name, if the name is a plain string.
    pub fn literal_name(&self) -> Option<String> {
        self.name
            .literal
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
    /// An external (XEP-0114) component: a `Component` without a plugin module.
    pub fn is_external(&self) -> bool {
        self.kind == SectionKind::Component && self.module.is_none()
    }
}

impl ConfigSet {
    /// Loads `main` and its includes from disk.
    pub fn load(main: &Path) -> Result<ConfigSet, LoadError> {
        Self::load_with(main, &HashMap::new())
    }

    /// Loads with some files' bytes replaced (keyed by real path): how an
    /// edit is checked *as if it stood at the original's path*, so relative
    /// includes resolve against the original directory.
    pub fn load_with(
        main: &Path,
        overlay: &HashMap<PathBuf, Vec<u8>>,
    ) -> Result<ConfigSet, LoadError> {
        let mut set = ConfigSet {
            files: Vec::new(),
            order: Vec::new(),
            unresolved_includes: Vec::new(),
        };
        let mut stack = Vec::new();
        set.load_file(main, None, overlay, &mut stack)?;
        Ok(set)
    }

    fn load_file(
        &mut self,
        path: &Path,
        from: Option<(PathBuf, usize, usize)>,
        overlay: &HashMap<PathBuf, Vec<u8>>,
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
        let bytes = match overlay.get(&real_path) {
            Some(b) => b.clone(),
            None => std::fs::read(&real_path).map_err(|e| unreadable(e, from.clone()))?,
        };
        let doc = Document::parse(bytes).map_err(|error| LoadError::Syntax {
            path: path.to_path_buf(),
            error,
        })?;
        let file = self.files.len();
        let includes: Vec<(usize, Option<Vec<u8>>, usize)> = doc
            .statements()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.statement {
                Statement::Include(v) => Some((i, v.literal.clone(), s.span.start)),
                _ => None,
            })
            .collect();
        let n = doc.statements().len();
        self.files.push(ConfigFile {
            path: path.to_path_buf(),
            real_path: real_path.clone(),
            doc,
        });
        stack.push(real_path);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut next_include = includes.into_iter().peekable();
        for stmt in 0..n {
            self.order.push(At { file, stmt });
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
    pub fn hosts(&self) -> Vec<Host> {
        let mut out = Vec::new();
        for (fi, f) in self.files.iter().enumerate() {
            for (si, s) in f.doc.statements().iter().enumerate() {
                let Statement::Section(h) = &s.statement else {
                    continue;
                };
                let secret = f
                    .doc
                    .section_options(si)
                    .into_iter()
                    .filter(|o| o.name == "component_secret")
                    .next_back()
                    .and_then(|o| o.value.clone())
                    .map(|v| Located {
                        span: v.span.clone(),
                        value: v,
                        file: fi,
                    });
                let (line, column) = f.doc.line_col(s.span.start);
                out.push(Host {
                    kind: h.kind,
                    at: At { file: fi, stmt: si },
                    line,
                    column,
                    name: h.name.clone(),
                    module: h.module.clone(),
                    secret,
                });
            }
        }
        let rank: HashMap<At, usize> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, i))
            .collect();
        out.sort_by_key(|h| rank[&h.at]);
        out
    }

    /// The hosts whose literal name is `name` (compared as prosody does).
    pub fn hosts_named(&self, name: &str) -> Vec<Host> {
        self.hosts()
            .into_iter()
            .filter(|h| {
                h.literal_name()
                    .is_some_and(|n| crate::names::same(&n, name))
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
        assert_eq!((hosts[0].line, hosts[0].at.file), (1, 1));
        assert_eq!(
            hosts[0].secret.as_ref().unwrap().value.literal.as_deref(),
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
    fn overlay_is_checked_in_place() {
        let d = scratch("overlay");
        std::fs::write(d.join("inc.lua"), "Component \"i.example\"\n").unwrap();
        std::fs::write(d.join("main.cfg.lua"), "x = 1\n").unwrap();
        let real = std::fs::canonicalize(d.join("main.cfg.lua")).unwrap();
        let overlay = HashMap::from([(real, b"Include \"inc.lua\"\n".to_vec())]);
        let set = ConfigSet::load_with(&d.join("main.cfg.lua"), &overlay).unwrap();
        assert_eq!(set.hosts_named("i.example").len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
