//! Whose files we trust: who else can read a file (mode and ACL), who else
//! can write a file or a directory on its way (then its contents decide what
//! root does, so we refuse it), and symlinks resolved as the kernel's
//! `fs.protected_symlinks` would.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::libc;

use super::attrs::{xattr, ACL_ACCESS};
use super::{io_error, PathRefusal, WriteError};

/// Who may access a file beyond its owner, from its mode and its access
/// ACL (`system.posix_acl_access`, Linux's binary form: a u32 version, then
/// entries of u16 tag, u16 permissions, u32 id). `perm` is 4 (read) or 2
/// (write); `group` counts the owning group as "others" too. One phrase
/// per finding, e.g. "mode 0644 lets every local user read it".
fn others_with(mode: u32, acl: Option<&[u8]>, perm: u16, group: bool) -> Vec<String> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    let verb = if perm == 4 { "read" } else { "write" };
    let mut why = Vec::new();
    let bits = u32::from(perm);
    if mode & bits != 0 || (group && mode & (bits << 3) != 0) {
        let who = if mode & bits != 0 {
            "every local user"
        } else {
            "its group"
        };
        why.push(format!("mode {:04o} lets {who} {verb} it", mode & 0o7777));
    }
    let entries: Vec<(u16, u16, u32)> = acl
        .filter(|a| a.len() >= 4)
        .map(|a| {
            a[4..]
                .chunks_exact(8)
                .map(|e| {
                    (
                        u16::from_le_bytes([e[0], e[1]]),
                        u16::from_le_bytes([e[2], e[3]]),
                        u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Named entries are limited by the mask (which the mode's group bits show).
    let mask = entries.iter().find(|e| e.0 == MASK).map_or(7, |e| e.1);
    for (tag, p, id) in entries {
        if p & mask & perm == 0 {
            continue;
        }
        match tag {
            USER => why.push(format!("its ACL lets uid {id} {verb} it")),
            GROUP => why.push(format!("its ACL lets gid {id} {verb} it")),
            _ => {}
        }
    }
    why
}

/// Why users other than the file's owner and group can read `path`, if
/// they can: its mode's "other" bits or a named user or group in its ACL.
/// A secret written there is readable by them; `add` warns.
pub(crate) fn readable_by_others(path: &Path) -> std::io::Result<Option<String>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let mode = f.metadata()?.mode();
    let acl = xattr(&f, ACL_ACCESS)?;
    let why = others_with(mode, acl.as_deref(), 4, false);
    Ok((!why.is_empty()).then(|| why.join(" and ")))
}

/// Refuses a file or directory that someone other than root or us could
/// write (owner, group/other write bits, ACL write entries), as sudo and
/// ssh refuse their configs: its contents decide what root does. `what`
/// names it ("the settings file").
pub(crate) fn check_trusted(what: &str, path: &Path, f: &File) -> Result<(), WriteError> {
    let m = f.metadata().map_err(|e| io_error("read", path, e))?;
    let refuse = |why: PathRefusal| WriteError::refused(format!("use {what}"), path, why);
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != 0 && m.uid() != me {
        return Err(refuse(PathRefusal::Untrusted { uid: m.uid(), me }));
    }
    let acl = xattr(f, ACL_ACCESS).map_err(|e| io_error("read", path, e))?;
    let reasons = others_with(m.mode(), acl.as_deref(), 2, true);
    if !reasons.is_empty() {
        return Err(refuse(PathRefusal::Writable { reasons }));
    }
    Ok(())
}

/// Opens a file to trust: no symlink as its last component, no FIFO
/// blocking us, then [`check_trusted`]; must be a regular file.
pub(crate) fn open_trusted(path: &Path) -> Result<File, std::io::Error> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Refuses a directory on the way to `path` that someone other than root
/// or us could write without the sticky bit: they could rename the file
/// away and put their own in its place (ssh's StrictModes rule). `path`
/// must be absolute and free of symlinks (see [`resolve`]).
pub(crate) fn check_ancestors(what: &str, path: &Path) -> Result<(), WriteError> {
    let me = nix::unistd::geteuid().as_raw();
    for dir in path.ancestors().skip(1) {
        let m = std::fs::metadata(dir).map_err(|e| io_error("read", dir, e))?;
        let open = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
        if (m.uid() != 0 && m.uid() != me) || open {
            return Err(WriteError::refused(
                format!("use {what}"),
                path,
                PathRefusal::OpenAncestor {
                    dir: dir.to_path_buf(),
                    uid: m.uid(),
                    mode: m.mode() & 0o7777,
                },
            ));
        }
    }
    Ok(())
}

/// How many symlinks a path may pass through, as Linux's MAXSYMLINKS.
const MAX_SYMLINKS: usize = 40;

/// Resolves `path` component by component, as the kernel would, and
/// returns the real path. Refuses a symbolic link met on the way whose
/// owner is neither root, nor us, nor the owner of the final file: the rule
/// of the kernel's `fs.protected_symlinks`, which containers and old
/// systems may lack. Otherwise a user could plant a link in a directory it
/// owns and have root rewrite the file it points to. Debian's root-owned
/// `conf.d` links pass.
pub fn resolve(path: &Path) -> Result<PathBuf, WriteError> {
    let start = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(|e| io_error("resolve", path, e))?
    };
    let mut resolved = start;
    let mut pending: std::collections::VecDeque<OsString> = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::RootDir))
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut links: Vec<(PathBuf, u32)> = Vec::new();
    while let Some(c) = pending.pop_front() {
        if c == "." {
            continue;
        }
        if c == ".." {
            // `resolved` holds no symlinks, so ".." is its parent.
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&c);
        let m = std::fs::symlink_metadata(&candidate).map_err(|e| io_error("read", path, e))?;
        if !m.file_type().is_symlink() {
            resolved = candidate;
            continue;
        }
        if links.len() >= MAX_SYMLINKS {
            return Err(io_error(
                "resolve",
                path,
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        let to = std::fs::read_link(&candidate).map_err(|e| io_error("read", &candidate, e))?;
        links.push((candidate, m.uid()));
        if to.is_absolute() {
            resolved = PathBuf::from("/");
        }
        for part in to.components().rev() {
            if !matches!(part, std::path::Component::RootDir) {
                pending.push_front(part.as_os_str().to_os_string());
            }
        }
    }
    let owner = std::fs::metadata(&resolved)
        .map_err(|e| io_error("read", path, e))?
        .uid();
    let me = nix::unistd::geteuid().as_raw();
    if let Some((link, uid)) = links
        .iter()
        .find(|(_, uid)| *uid != 0 && *uid != me && *uid != owner)
    {
        return Err(WriteError::Symlink {
            link: link.clone(),
            link_owner: *uid,
            target: resolved,
            owner,
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::backup::check_backup_dir;
    use crate::safe_write::read_backup;
    use crate::safe_write::testing::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn who_else_can_read_or_write() {
        assert!(others_with(0o640, None, 4, false).is_empty());
        assert_eq!(
            others_with(0o644, None, 4, false),
            vec!["mode 0644 lets every local user read it"]
        );
        assert!(others_with(0o644, None, 2, true).is_empty());
        assert_eq!(
            others_with(0o664, None, 2, true),
            vec!["mode 0664 lets its group write it"]
        );
        // version 2; user_obj rw; user 65534 r; group_obj r; group 7 rw; mask r; other none.
        let entry = |tag: u16, perm: u16, id: u32| {
            [
                tag.to_le_bytes().to_vec(),
                perm.to_le_bytes().to_vec(),
                id.to_le_bytes().to_vec(),
            ]
            .concat()
        };
        let acl = |mask: u16| {
            [
                2u32.to_le_bytes().to_vec(),
                entry(0x01, 6, u32::MAX),
                entry(0x02, 4, 65534),
                entry(0x04, 4, u32::MAX),
                entry(0x08, 6, 7),
                entry(0x10, mask, u32::MAX),
                entry(0x20, 0, u32::MAX),
            ]
            .concat()
        };
        assert_eq!(
            others_with(0o640, Some(&acl(4)), 4, false),
            vec![
                "its ACL lets uid 65534 read it",
                "its ACL lets gid 7 read it"
            ]
        );
        // The mask limits named entries: r-- leaves gid 7 no write.
        assert!(others_with(0o640, Some(&acl(4)), 2, false).is_empty());
        assert_eq!(
            others_with(0o660, Some(&acl(6)), 2, false),
            vec!["its ACL lets gid 7 write it"]
        );
        assert!(others_with(0o600, Some(&acl(0)), 4, false).is_empty());
        // Garbage is no entry, not a panic.
        assert!(others_with(0o600, Some(&[1, 2, 3, 4, 5]), 4, false).is_empty());
    }

    #[test]
    fn resolve_follows_links_as_the_kernel_does() {
        let s = scratch();
        std::fs::create_dir_all(s.path().join("avail")).unwrap();
        std::fs::create_dir_all(s.path().join("d")).unwrap();
        std::fs::write(s.path().join("avail/x.lua"), "").unwrap();
        std::os::unix::fs::symlink("../avail/x.lua", s.path().join("d/x.lua")).unwrap();
        std::os::unix::fs::symlink(s.path().join("d"), s.path().join("dl")).unwrap();
        let real = std::fs::canonicalize(s.path().join("avail/x.lua")).unwrap();
        assert_eq!(resolve(&s.path().join("dl/x.lua")).unwrap(), real);
        assert_eq!(resolve(&s.path().join("d/../dl/./x.lua")).unwrap(), real);
        std::os::unix::fs::symlink("loop", s.path().join("loop")).unwrap();
        let e = resolve(&s.path().join("loop")).unwrap_err();
        assert!(
            e.to_string().contains("Too many levels of symbolic links"),
            "{e}"
        );
        assert!(resolve(&s.path().join("d/missing"))
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        if is_root() {
            // Another user's link to a file that user does not own.
            std::os::unix::fs::lchown(s.path().join("d/x.lua"), Some(4242), None).unwrap();
            let e = resolve(&s.path().join("dl/x.lua")).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "refusing to follow the symbolic link {} (owned by uid 4242)",
                    s.path().join("d/x.lua").display()
                )),
                "{e}"
            );
            // ... to a file that user owns: its own file, followed.
            std::os::unix::fs::chown(s.path().join("avail/x.lua"), Some(4242), None).unwrap();
            assert_eq!(resolve(&s.path().join("dl/x.lua")).unwrap(), real);
        }
    }

    #[test]
    fn trust_checks_refuse_what_others_can_write() {
        let s = scratch();
        let f = s.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = || File::open(&f).unwrap();
        check_trusted("the file", &f, &open()).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o646)).unwrap();
        let e = check_trusted("the file", &f, &open()).unwrap_err();
        assert!(
            e.to_string().contains("lets every local user write it"),
            "{e}"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_backup(&f).unwrap(), b"x");
        std::os::unix::fs::symlink(&f, s.path().join("l")).unwrap();
        let e = read_backup(&s.path().join("l")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        if is_root() {
            std::os::unix::fs::chown(&f, Some(4242), None).unwrap();
            let e = read_backup(&f).unwrap_err();
            assert!(e.to_string().contains("belongs to uid 4242"), "{e}");
        }
        // Ancestors: a directory others can write without the sticky bit.
        std::fs::create_dir(s.path().join("open")).unwrap();
        std::fs::set_permissions(
            s.path().join("open"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        std::fs::write(s.path().join("open/g"), "").unwrap();
        let real = std::fs::canonicalize(s.path().join("open/g")).unwrap();
        let e = check_ancestors("the file", &real).unwrap_err();
        assert!(e.to_string().contains("lets others replace it"), "{e}");
        std::fs::set_permissions(
            s.path().join("open"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        check_ancestors("the file", &real).unwrap();
        // A relative backup directory is never used.
        let e = check_backup_dir(Path::new("backups")).unwrap_err();
        assert!(e.to_string().contains("not an absolute path"), "{e}");
    }
}
