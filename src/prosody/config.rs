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
pub(crate) struct ConfigFile {
    /// The path as prosody names it (what messages should show).
    pub(crate) path: PathBuf,
    /// Where the bytes live: symlinks resolved, so edits replace the target
    /// and keep Debian's `conf.d` → `conf.avail` links.
    pub(crate) real_path: PathBuf,
    pub(crate) doc: Document,
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
    /// Includes nested deeper than prosody's Lua can follow.
    IncludeTooDeep {
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
            LoadError::IncludeTooDeep {
                path,
                from: (file, line, col),
            } => {
                write!(
                    f,
                    "{}:{line}:{col}: including {} nests Includes more than {MAX_INCLUDE_DEPTH} deep; prosody fails with \"C stack overflow\" at about 196",
                    file.display(),
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// A statement's place in the run: which file, which statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct At {
    pub(crate) file: usize,
    pub(crate) stmt: usize,
}

#[derive(Debug)]
pub(crate) struct ConfigSet {
    pub(crate) files: Vec<ConfigFile>,
    /// Every top-level statement of every file, in the order prosody runs
    /// them, as runs of statements of one file (see [`ConfigSet::order`]).
    runs: Vec<(usize, std::ops::Range<usize>)>,
    /// Includes whose path is an expression: prosody follows them, we cannot.
    pub(crate) unresolved_includes: Vec<At>,
}

/// A `VirtualHost` or `Component` statement, with what its section sets.
/// Small (a config may have 100,000 of them): the rest is read from the
/// document on demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Host<'s> {
    pub(crate) kind: SectionKind,
    pub(crate) at: At,
    doc: &'s Document,
}

impl<'s> Host<'s> {
    fn header(&self) -> SectionHeader<'s> {
        self.doc.section(self.at.stmt).expect("a host is a section")
    }
    pub(crate) fn name(&self) -> Value<'s> {
        self.header().name
    }
    /// The plugin of `Component "x" "muc"`.
    pub(crate) fn module(&self) -> Option<Value<'s>> {
        self.header().module
    }
    /// The value of the section's last `component_secret` (the one prosody
    /// keeps). A section never continues into another file: each file
    /// starts in the global one.
    pub(crate) fn secret(&self) -> Option<Value<'s>> {
        self.doc
            .last_section_option(self.at.stmt, "component_secret")
            .and_then(|id| self.doc.option(id).value)
    }
    /// The line of the `VirtualHost`/`Component` statement.
    pub(crate) fn line(&self) -> usize {
        self.doc.line_col(self.doc.stmt_span(self.at.stmt).start).0
    }
    /// The literal name, if the name is a plain string.
    pub(crate) fn literal_name(&self) -> Option<String> {
        self.name()
            .literal()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// An external (XEP-0114) component: a `Component` without a plugin
    /// module, or with prosody's own module for them, `"component"` (what a
    /// `Component` without a module loads).
    pub(crate) fn is_external(&self) -> bool {
        self.kind == SectionKind::Component
            && match self.module() {
                None => true,
                Some(m) => m.literal().as_deref() == Some(&b"component"[..]),
            }
    }
}

/// The global section's `component_secret` (see [`ConfigSet::global_secret`]).
#[derive(Debug, Clone)]
pub(crate) struct GlobalSecret<'s> {
    /// The file that sets it (index in [`ConfigSet::files`]).
    pub(crate) file: usize,
    pub(crate) value: Value<'s>,
}

/// JSON for a path. Paths are bytes and JSON strings are Unicode: a name
/// that is not UTF-8 is shown as `Path::display` shows it (U+FFFD for each
/// bad sequence) rather than failing the whole output.
pub(crate) mod json_path {
    use std::path::{Path, PathBuf};

    pub(crate) fn one<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string_lossy())
    }
    pub(crate) fn opt<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => one(p, s),
            None => s.serialize_none(),
        }
    }
    pub(crate) fn many<S: serde::Serializer>(ps: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ps.iter().map(|p| p.to_string_lossy()))
    }
}

/// The state of one load: the edited files' bytes, the chain of files
/// being included, and the first file loaded from each real path.
struct Loading {
    overlay: HashMap<PathBuf, Vec<u8>>,
    /// Overlay files that do not exist yet (a file an edit creates): an
    /// `Include` finds them as prosody will once they are in place.
    created: Vec<PathBuf>,
    stack: Vec<PathBuf>,
    by_real_path: HashMap<PathBuf, usize>,
}

/// How deep `Include`s may nest. prosody's Lua fails with "C stack
/// overflow" at about 196 levels (measured with 0.12's configmanager), so a
/// deeper config never loads in prosody; stopping here also bounds our
/// recursion.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 200;

/// The largest config file read: far above any real config (Debian's is
/// 11 KB, the suite's stress test 50 MiB), far below what exhausts memory.
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;

/// Reads one config file as prosody would, but only a regular file (after
/// symlinks) of at most [`MAX_FILE_BYTES`]: an `Include` of `/dev/zero`
/// would grow without end, and a FIFO would block forever while we hold the
/// edit lock. Opened without blocking and checked on the open descriptor,
/// so what is checked is what is read.
pub(crate) fn read_config_file(path: &Path) -> Result<Vec<u8>, FileUnreadable> {
    let mut f = crate::secret::open_nonblocking(path)?;
    if crate::secret::regular(&f)?.len() > MAX_FILE_BYTES {
        return Err(FileUnreadable(crate::secret::Unreadable::TooLarge));
    }
    Ok(crate::secret::read_at_most(&mut f, MAX_FILE_BYTES)?)
}

/// Why [`read_config_file`] read nothing: Display words it as the end of
/// "cannot read FILE: ".
#[derive(Debug)]
pub(crate) struct FileUnreadable(pub(crate) crate::secret::Unreadable);

impl From<crate::secret::Unreadable> for FileUnreadable {
    fn from(e: crate::secret::Unreadable) -> FileUnreadable {
        FileUnreadable(e)
    }
}

impl From<std::io::Error> for FileUnreadable {
    fn from(e: std::io::Error) -> FileUnreadable {
        FileUnreadable(crate::secret::Unreadable::Io(e))
    }
}

impl FileUnreadable {
    /// The io::Error kind it is of (InvalidData: too large; InvalidInput:
    /// not a regular file).
    pub(crate) fn kind(&self) -> std::io::ErrorKind {
        use crate::secret::Unreadable;
        match &self.0 {
            Unreadable::Io(e) => e.kind(),
            Unreadable::TooLarge => std::io::ErrorKind::InvalidData,
            Unreadable::NotRegular(_) => std::io::ErrorKind::InvalidInput,
        }
    }
}

impl std::fmt::Display for FileUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::Unreadable;
        use std::os::unix::fs::FileTypeExt;
        let t = match &self.0 {
            Unreadable::Io(e) => return f.write_str(&crate::text::plain_io(e)),
            Unreadable::TooLarge => {
                return write!(
                f,
                "it is larger than {} MiB, the limit for a config file; is this the right file?",
                MAX_FILE_BYTES >> 20
            )
            }
            Unreadable::NotRegular(t) => t,
        };
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO (named pipe)"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        write!(f, "it is {what}; only regular files are read as config (point the Include or -c at the file itself)")
    }
}

impl std::error::Error for FileUnreadable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            crate::secret::Unreadable::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl ConfigSet {
    /// Loads `main` and its includes from disk.
    pub(crate) fn load(main: &Path) -> Result<ConfigSet, LoadError> {
        Self::load_with(main, HashMap::new())
    }

    /// Loads with some files' bytes replaced (keyed by real path): how an
    /// edit is checked *as if it stood at the original's path*, so relative
    /// includes resolve against the original directory. The bytes are moved
    /// in, not copied: a large config is held once.
    pub(crate) fn load_with(
        main: &Path,
        overlay: HashMap<PathBuf, Vec<u8>>,
    ) -> Result<ConfigSet, LoadError> {
        let mut set = ConfigSet {
            files: Vec::new(),
            runs: Vec::new(),
            unresolved_includes: Vec::new(),
        };
        let created = overlay
            .keys()
            .filter(|p| std::fs::symlink_metadata(p).is_err())
            .cloned()
            .collect();
        let mut loading = Loading {
            overlay,
            created,
            stack: Vec::new(),
            by_real_path: HashMap::new(),
        };
        set.load_file(main, None, &mut loading)?;
        Ok(set)
    }

    /// Every top-level statement of every file, in the order prosody runs them.
    pub(crate) fn order(&self) -> impl Iterator<Item = At> + '_ {
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
        loading: &mut Loading,
    ) -> Result<(), LoadError> {
        let real_path = enter_file(path, &from, loading)?;
        let bytes = self.file_bytes(path, &real_path, &from, loading)?;
        let doc = Document::parse(bytes).map_err(|error| LoadError::Syntax {
            path: path.to_path_buf(),
            error,
        })?;
        let file = self.files.len();
        loading
            .by_real_path
            .entry(real_path.clone())
            .or_insert(file);
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
        loading.stack.push(real_path);
        self.run_statements(file, n, includes, loading)?;
        loading.stack.pop();
        Ok(())
    }

    /// The text of the file at `real_path`: the edit's, from the overlay,
    /// else as loaded before, else read from disk. A file included twice
    /// reads the same both times (and an edited one, moved out of the
    /// overlay on first use, stays edited). Found by real path in a map: a
    /// config may include 20,000 files.
    fn file_bytes(
        &self,
        path: &Path,
        real_path: &Path,
        from: &Option<(PathBuf, usize, usize)>,
        loading: &mut Loading,
    ) -> Result<Vec<u8>, LoadError> {
        Ok(match loading.overlay.remove(real_path) {
            Some(b) => b,
            None => match loading.by_real_path.get(real_path) {
                Some(&i) => self.files[i].doc.text().to_vec(),
                None => read_config_file(real_path)
                    .map_err(|e| unreadable_at(path.to_path_buf(), e, from.clone()))?,
            },
        })
    }

    /// Runs the `n` statements of loaded file `file` in order, loading the
    /// files each of its `includes` names where it stands.
    fn run_statements(
        &mut self,
        file: usize,
        n: usize,
        includes: Vec<(usize, Option<Vec<u8>>, usize)>,
        loading: &mut Loading,
    ) -> Result<(), LoadError> {
        let path = self.files[file].path.clone();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut next_include = includes.into_iter().peekable();
        for stmt in 0..n {
            self.push_order(file, stmt);
            let Some((_, target, offset)) = next_include.next_if(|(i, _, _)| *i == stmt) else {
                continue;
            };
            let (line, col) = self.files[file].doc.line_col(offset);
            let from = Some((path.clone(), line, col));
            let Some(target) = target else {
                self.unresolved_includes.push(At { file, stmt });
                continue;
            };
            for included in expand_include(&dir, &target, &loading.created)
                .map_err(|(p, e)| unreadable_at(p, e.into(), from.clone()))?
            {
                self.load_file(&included, from.clone(), loading)?;
            }
        }
        Ok(())
    }

    /// Every `VirtualHost`/`Component` statement, in the order prosody runs them.
    pub(crate) fn hosts(&self) -> impl Iterator<Item = Host<'_>> + '_ {
        self.order()
            .filter(|at| self.files[at.file].doc.is_section(at.stmt))
            .map(|at| self.host(at))
    }

    /// The `component_secret` of the global section: the last one set
    /// there, in any file, in the order prosody runs them. prosody looks an
    /// option up in the host's own section, then in the global one, so a
    /// component whose blocks set no secret uses this one.
    pub(crate) fn global_secret(&self) -> Option<GlobalSecret<'_>> {
        let mut last = None;
        for at in self.order() {
            let doc = &self.files[at.file].doc;
            if doc.owner(at.stmt) != crate::document::Owner::Global {
                continue;
            }
            if let Statement::Options(opts) = doc.stmt(at.stmt).statement {
                if let Some(value) = opts
                    .iter()
                    .rev()
                    .find(|o| o.name == "component_secret")
                    .and_then(|o| o.value)
                {
                    last = Some(GlobalSecret {
                        file: at.file,
                        value,
                    });
                }
            }
        }
        last
    }

    /// The `component_secret` prosody uses for the component `hosts` (its
    /// blocks, in order): the last one its blocks set, else the global one.
    /// With the file it is written in (a `FileContents` path is relative to
    /// that file's directory), and whether it is the global one.
    pub(crate) fn effective_secret<'a>(
        &'a self,
        hosts: &[Host<'a>],
    ) -> Option<(Value<'a>, &'a Path, bool)> {
        if let Some((h, v)) = hosts.iter().rev().find_map(|h| Some((h, h.secret()?))) {
            return Some((v, &self.files[h.at.file].path, false));
        }
        self.global_secret()
            .map(|g| (g.value, self.files[g.file].path.as_path(), true))
    }

    /// How many `VirtualHost`/`Component` statements the files have.
    pub(crate) fn host_count(&self) -> usize {
        self.files.iter().map(|f| f.doc.section_count()).sum()
    }

    /// The host opened by the statement at `at`, which must be a section.
    pub(crate) fn host(&self, at: At) -> Host<'_> {
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
    pub(crate) fn hosts_named(&self, name: &str) -> Vec<Host<'_>> {
        let want = crate::prosody::names::fold(name.as_bytes());
        self.hosts()
            .filter(|h| {
                h.name()
                    .literal()
                    .is_some_and(|n| crate::prosody::names::fold(&n) == want)
            })
            .collect()
    }
}

/// The real path of `path`, about to be loaded (included from `from`):
/// refused when it is already being loaded (a loop) or nested too deep.
fn enter_file(
    path: &Path,
    from: &Option<(PathBuf, usize, usize)>,
    loading: &Loading,
) -> Result<PathBuf, LoadError> {
    let real_path = match std::fs::canonicalize(path) {
        Ok(p) => p,
        // A file the edit creates: named by its real directory.
        Err(e) => match created_path(path, &loading.created) {
            Some(p) => p,
            None => return Err(unreadable_at(path.to_path_buf(), e.into(), from.clone())),
        },
    };
    if loading.stack.contains(&real_path) {
        return Err(LoadError::IncludeLoop {
            path: path.to_path_buf(),
            from: from.clone().expect("the main file is not included"),
        });
    }
    if loading.stack.len() > MAX_INCLUDE_DEPTH {
        return Err(LoadError::IncludeTooDeep {
            path: path.to_path_buf(),
            from: from.clone().expect("the main file is not included"),
        });
    }
    Ok(real_path)
}

fn unreadable_at(
    path: PathBuf,
    e: FileUnreadable,
    from: Option<(PathBuf, usize, usize)>,
) -> LoadError {
    LoadError::Unreadable {
        path,
        from,
        message: e.to_string(),
        kind: e.kind(),
    }
}

/// `path` (which does not exist) as one of the files an edit creates, by
/// its real directory and its name.
fn created_path(path: &Path, created: &[PathBuf]) -> Option<PathBuf> {
    let real = std::fs::canonicalize(path.parent()?)
        .ok()?
        .join(path.file_name()?);
    created.contains(&real).then_some(real)
}

/// The files an `Include` of `target` loads, relative to `dir`. Paths are
/// bytes, as in prosody: a name that is not UTF-8 is loaded like any other.
/// A glob also matches the files in `created` (real paths that an edit
/// creates), after the directory's own entries.
fn expand_include(
    dir: &Path,
    target: &[u8],
    created: &[PathBuf],
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    use std::os::unix::ffi::OsStrExt;
    let path = |b: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(b));
    if !target.iter().any(|&b| b == b'*' || b == b'?') {
        return Ok(vec![dir.join(path(target))]);
    }
    // Only the last path element is a pattern, as in prosody.
    let (base, pattern) = match target.iter().rposition(|&b| b == b'/') {
        Some(i) => (dir.join(path(&target[..i.max(1)])), &target[i + 1..]),
        None => (dir.to_path_buf(), target),
    };
    let entries = std::fs::read_dir(&base).map_err(|e| (base.clone(), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| (base.clone(), e))?;
        let name = entry.file_name();
        let name = name.as_bytes();
        if !name.starts_with(b".") && glob_match(pattern, name) {
            out.push(base.join(path(name)));
        }
    }
    if !created.is_empty() {
        let real_base = std::fs::canonicalize(&base).map_err(|e| (base.clone(), e))?;
        for c in created {
            let Some(name) = c.file_name().filter(|_| c.parent() == Some(&*real_base)) else {
                continue;
            };
            let name = name.as_bytes();
            if !name.starts_with(b".") && glob_match(pattern, name) {
                out.push(base.join(path(name)));
            }
        }
    }
    Ok(out)
}

/// prosody's `glob_to_pattern`: `*` is any run of bytes, `?` any one byte,
/// every other byte literal. systemd's `ImportCredential=` globs are
/// matched with it too: there it handles `*` and `?` as fnmatch does, but
/// not fnmatch's `[...]` classes or `\` escapes (both taken literally).
/// The one glob of the crate: linear in the pattern times the name.
pub(crate) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    glob_match_counting(pattern, name).0
}

/// Two pointers; on a mismatch, go back to the last `*` and let it take
/// one byte more. Only the last `*` ever needs retrying (a later `*` can
/// absorb whatever an earlier one would), so this takes at most about
/// len(pattern) × len(name) steps, where trying every split for every `*`
/// took exponential time (`*a*a*a*a*a*b` on a 200-byte name: over a
/// minute). Returns the verdict and the steps taken (for the tests).
fn glob_match_counting(p: &[u8], name: &[u8]) -> (bool, usize) {
    let (mut pi, mut ni, mut steps) = (0, 0, 0);
    // After the last `*` seen: where the pattern resumes, and where in the
    // name the `*`'s run ends so far.
    let mut star: Option<(usize, usize)> = None;
    while ni < name.len() {
        steps += 1;
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ni));
            }
            Some(&c) if c == b'?' || c == name[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((resume, end)) => {
                    pi = resume;
                    ni = end + 1;
                    star = Some((resume, end + 1));
                }
                None => return (false, steps),
            },
        }
    }
    while p.get(pi) == Some(&b'*') {
        pi += 1;
    }
    (pi == p.len(), steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed when dropped (also when a test fails).
    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("fxc-config-")
            .tempdir()
            .unwrap()
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*.cfg.lua", b"localhost.cfg.lua"));
        assert!(!glob_match(b"*.cfg.lua", b"localhost.cfg.lua~"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"**a**", b"xax"));
        assert!(glob_match(b"*\xff*", b"a\xffb"));
        assert!(!glob_match(b"", b"a"));
    }

    /// The obvious definition, by dynamic programming over (pattern, name).
    fn glob_reference(p: &[u8], n: &[u8]) -> bool {
        let mut m = vec![vec![false; n.len() + 1]; p.len() + 1];
        m[p.len()][n.len()] = true;
        for i in (0..p.len()).rev() {
            for j in (0..=n.len()).rev() {
                m[i][j] = match p[i] {
                    b'*' => m[i + 1][j] || (j < n.len() && m[i][j + 1]),
                    c => j < n.len() && (c == b'?' || c == n[j]) && m[i + 1][j + 1],
                };
            }
        }
        m[0][0]
    }

    #[test]
    fn glob_agrees_with_the_definition() {
        // Every pattern over {a, b, *, ?} up to 5 long against every name
        // over {a, b} up to 6 long.
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![vec![]];
            let mut last = vec![vec![]];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w: &Vec<u8>| {
                        alphabet.iter().map(move |&c| {
                            let mut w = w.clone();
                            w.push(c);
                            w
                        })
                    })
                    .collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let names = all(b"ab", 6);
        for p in all(b"ab*?", 5) {
            for n in &names {
                assert_eq!(glob_match(&p, n), glob_reference(&p, n), "{p:?} {n:?}");
            }
        }
    }

    /// The pattern that took the recursive matcher over a minute: bounded
    /// by len(pattern) × len(name) steps (counted, not timed).
    #[test]
    fn glob_is_not_exponential() {
        let name = vec![b'a'; 200];
        for pattern in [
            &b"*a*a*a*a*a*b"[..],
            b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        ] {
            let (hit, steps) = glob_match_counting(pattern, &name);
            assert!(!hit);
            let bound = (pattern.len() + 1) * (name.len() + 1);
            assert!(steps <= bound, "{steps} steps, bound {bound}");
        }
        let mut name = vec![b'a'; 200];
        name.push(b'b');
        assert!(glob_match_counting(b"*a*a*a*a*a*b", &name).0);
    }

    /// Loads on another thread: a FIFO that blocked the load would hang the
    /// test instead of failing it.
    fn load_within(main: &Path, secs: u64) -> Result<ConfigSet, String> {
        let main = main.to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(ConfigSet::load(&main).map_err(|e| e.to_string()));
        });
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("the load blocked for {secs} s"))
    }

    #[test]
    fn only_regular_files_are_read() {
        let tmp = scratch();
        let d = tmp.path();
        let main = d.join("main.cfg.lua");
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        std::fs::write(&main, "x = 1\nInclude \"conf.d/*.cfg.lua\"\n").unwrap();

        nix::unistd::mkfifo(
            &d.join("conf.d/fifo.cfg.lua"),
            nix::sys::stat::Mode::S_IRWXU,
        )
        .unwrap();
        let e = load_within(&main, 20).unwrap_err();
        assert!(
            e.contains("main.cfg.lua:2:1:") && e.contains("fifo.cfg.lua") && e.contains("FIFO"),
            "{e}"
        );
        std::fs::remove_file(d.join("conf.d/fifo.cfg.lua")).unwrap();

        std::os::unix::fs::symlink("/dev/zero", d.join("conf.d/zero.cfg.lua")).unwrap();
        let e = load_within(&main, 20).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        std::fs::remove_file(d.join("conf.d/zero.cfg.lua")).unwrap();

        std::fs::create_dir(d.join("conf.d/dir.cfg.lua")).unwrap();
        let e = load_within(&main, 20).unwrap_err();
        assert!(e.contains("a directory"), "{e}");
        std::fs::remove_dir(d.join("conf.d/dir.cfg.lua")).unwrap();

        // The main config itself.
        let fifo = d.join("fifo-main.cfg.lua");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = load_within(&fifo, 20).unwrap_err();
        assert!(e.contains("cannot read") && e.contains("FIFO"), "{e}");

        // Over the size limit (a sparse file: nothing is written).
        let big = d.join("conf.d/big.cfg.lua");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let e = load_within(&main, 20).unwrap_err();
        assert!(e.contains("larger than 256 MiB"), "{e}");
    }

    /// prosody loads a `conf.d` file whose name is not UTF-8 (paths are
    /// bytes); so do we, under its own name.
    #[test]
    fn non_utf8_file_names_load() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = scratch();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.cfg.lua");
        std::fs::write(d.join("conf.d").join(name), "Component \"b.example\"\n").unwrap();
        // A named Include of a non-UTF-8 path too.
        std::fs::write(
            d.join(std::ffi::OsStr::from_bytes(b"n\xe9.lua")),
            "Component \"n.example\"\n",
        )
        .unwrap();
        let main = d.join("main.cfg.lua");
        std::fs::write(
            &main,
            b"Include \"conf.d/*.cfg.lua\"\nInclude \"n\\233.lua\"\n",
        )
        .unwrap();
        let set = ConfigSet::load(&main).unwrap();
        assert_eq!(set.files.len(), 3);
        assert_eq!(set.files[1].path, d.join("conf.d").join(name));
        assert_eq!(set.hosts_named("b.example").len(), 1);
        assert_eq!(set.hosts_named("n.example").len(), 1);
    }

    /// prosody's Lua fails at about 196 nested Includes: deeper chains are
    /// refused (and never overflow our stack); shallower ones load.
    #[test]
    fn include_depth_is_bounded() {
        let tmp = scratch();
        let d = tmp.path();
        let chain = |n: usize| {
            for i in 0..n {
                std::fs::write(
                    d.join(format!("f{i}.lua")),
                    format!("Include \"f{}.lua\"\n", i + 1),
                )
                .unwrap();
            }
            std::fs::write(d.join(format!("f{n}.lua")), "x = 1\n").unwrap();
        };
        chain(190);
        assert_eq!(ConfigSet::load(&d.join("f0.lua")).unwrap().files.len(), 191);
        chain(5000);
        let e = ConfigSet::load(&d.join("f0.lua")).unwrap_err();
        assert!(matches!(e, LoadError::IncludeTooDeep { .. }), "{e}");
        assert!(e.to_string().contains("C stack overflow"), "{e}");
    }

    #[test]
    fn includes_like_prosody() {
        let tmp = scratch();
        let d = tmp.path();
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
    }

    #[test]
    fn missing_include_and_loops_are_fatal() {
        let tmp = scratch();
        let d = tmp.path();
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
    }

    #[test]
    fn a_file_included_twice_reads_the_same_both_times() {
        let tmp = scratch();
        let d = tmp.path();
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
    }

    #[test]
    fn overlay_is_checked_in_place() {
        let tmp = scratch();
        let d = tmp.path();
        std::fs::write(d.join("inc.lua"), "Component \"i.example\"\n").unwrap();
        std::fs::write(d.join("main.cfg.lua"), "x = 1\n").unwrap();
        let real = std::fs::canonicalize(d.join("main.cfg.lua")).unwrap();
        let overlay = HashMap::from([(real, b"Include \"inc.lua\"\n".to_vec())]);
        let set = ConfigSet::load_with(&d.join("main.cfg.lua"), overlay).unwrap();
        assert_eq!(set.hosts_named("i.example").len(), 1);
    }

    #[test]
    fn only_regular_files_are_read_as_config() {
        let tmp = scratch();
        let fifo = tmp.path().join("fifo.cfg.lua");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_config_file(&fifo).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a FIFO (named pipe); only regular files are read as config (point the Include or -c at the file itself)"
        );
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = read_config_file(tmp.path()).unwrap_err();
        assert!(e.to_string().starts_with("it is a directory;"), "{e}");
        let e = read_config_file(&tmp.path().join("none")).unwrap_err();
        assert_eq!(e.to_string(), "No such file or directory");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
