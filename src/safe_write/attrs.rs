//! Extended attributes, the access ACL among them: read from the original,
//! dropped from and copied to the new file, through descriptors only.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::path::Path;

use nix::libc;
use rustix::fs::XattrFlags;
use rustix::io::Errno;

use super::{io_error, WriteError};

/// A file's extended attributes with their values.
pub(super) type Xattrs = Vec<(CString, Vec<u8>)>;

/// The extended attribute that holds a file's access ACL.
pub(super) const ACL_ACCESS: &CStr = match CStr::from_bytes_with_nul(b"system.posix_acl_access\0") {
    Ok(c) => c,
    Err(_) => panic!("NUL-terminated"),
};

/// Removes from the new file `tmp` every extended attribute that `wanted`
/// (the original's) lacks: above all the access ACL that the directory's
/// default ACL gave it.
pub(super) fn remove_all_but(tmp: &File, wanted: &Xattrs, target: &Path) -> Result<(), WriteError> {
    let inherited =
        xattrs(tmp).map_err(|e| io_error("read the attributes of the new", target, e))?;
    for (name, _) in inherited
        .iter()
        .filter(|(n, _)| !wanted.iter().any(|(w, _)| w == n))
    {
        if let Err(e) = rustix::fs::fremovexattr(tmp, name.as_c_str()) {
            if e != Errno::NODATA {
                return Err(xattr_error("remove", name, target, e.into()));
            }
        }
    }
    Ok(())
}

/// Gives the new file `tmp` the original's extended attributes `wanted`;
/// which ones may fail is [`xattr_must_copy`]'s call.
pub(super) fn copy_all(tmp: &File, wanted: &Xattrs, target: &Path) -> Result<(), WriteError> {
    for (name, value) in wanted {
        if let Err(e) = rustix::fs::fsetxattr(tmp, name.as_c_str(), value, XattrFlags::empty()) {
            if xattr_must_copy(name.to_bytes(), Some(e.raw_os_error())) {
                return Err(xattr_error("copy", name, target, e.into()));
            }
        }
    }
    Ok(())
}

/// Whether failing to copy the extended attribute `name` (with `errno`)
/// must fail the edit: always for the access ACL (who may read the file);
/// for `trusted.` and `security.` ones (policy: SELinux labels,
/// capabilities) unless the file system does not support them at all, in
/// which case the original cannot have had them either. `user.` ones are
/// copied where permitted.
fn xattr_must_copy(name: &[u8], errno: Option<i32>) -> bool {
    if name == b"system.posix_acl_access" {
        return true;
    }
    (name.starts_with(b"trusted.") || name.starts_with(b"security."))
        && errno != Some(libc::ENOTSUP)
}

fn xattr_error(verb: &'static str, name: &CStr, target: &Path, e: std::io::Error) -> WriteError {
    WriteError::Attribute {
        verb,
        name: name.to_string_lossy().into_owned(),
        path: target.to_path_buf(),
        source: e,
        as_root: nix::unistd::geteuid().is_root(),
    }
}

/// Every extended attribute of the open file `f`, with its value; none on
/// a file system without them.
pub(super) fn xattrs(f: &File) -> std::io::Result<Xattrs> {
    // Sizes can grow between the two calls: retry on ERANGE.
    let names = loop {
        let n = match rustix::fs::flistxattr_query(f) {
            Ok(0) => break Vec::new(),
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; n];
        match rustix::fs::flistxattr(f, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                break buf;
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = CString::new(name).expect("split at NUL");
        match xattr(f, &name)? {
            Some(v) => out.push((name, v)),
            None => continue,
        }
    }
    Ok(out)
}

/// The value of the extended attribute `name` of `f`; `None` if it has none.
pub(super) fn xattr(f: &File, name: &CStr) -> std::io::Result<Option<Vec<u8>>> {
    loop {
        let n = match rustix::fs::fgetxattr_query(f, name) {
            // rustix reads a 0-byte buffer as nothing, not as a size query.
            Ok(0) => return Ok(Some(Vec::new())),
            Ok(n) => n,
            Err(Errno::NODATA | Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut v = vec![0u8; n];
        match rustix::fs::fgetxattr(f, name, &mut v[..]) {
            Ok(n) => {
                v.truncate(n);
                return Ok(Some(v));
            }
            Err(Errno::RANGE) => continue,
            Err(Errno::NODATA) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_xattrs_must_be_copied() {
        for errno in [libc::EPERM, libc::ENOTSUP, libc::ENOSPC] {
            assert!(xattr_must_copy(b"system.posix_acl_access", Some(errno)));
            assert!(!xattr_must_copy(b"user.x", Some(errno)));
        }
        assert!(xattr_must_copy(b"security.selinux", Some(libc::EPERM)));
        assert!(xattr_must_copy(b"trusted.x", Some(libc::EPERM)));
        assert!(!xattr_must_copy(b"trusted.x", Some(libc::ENOTSUP)));
    }
}
