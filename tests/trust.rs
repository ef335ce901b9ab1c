//! Permissions and trust: what another local
//! user can do to root's edits through ACLs, planted files and links, the
//! lock, backup names, and a failure half-way through a multi-file edit.
//! Most run the built binary as root and switch to `nobody` with `setpriv`
//! for the other user; CI runs them as root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{chmod, code, json, running_as_root, stderr, stdout, Scratch, BIN};

/// Runs a shell command that must succeed.
fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    stdout(&o)
}

/// `setpriv` prefix that runs a command as `nobody`.
const AS_NOBODY: [&str; 4] = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"];

/// Runs `argv` as nobody.
fn as_nobody(argv: &[&str]) -> Output {
    Command::new("setpriv")
        .args(AS_NOBODY)
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

/// Dot-files of ours (temp files) left in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".fxc-"))
        .collect()
}

/// A mount undone on drop (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn bind(from: &Path, at: &Path) -> Mount {
        sh(&format!(
            "mount --bind '{}' '{}'",
            from.display(),
            at.display()
        ));
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A default ACL on the config's directory must not reach the
/// edited config: before the fix, after one `add` `nobody` read every secret.
#[test]
fn default_acl_of_the_directory_does_not_reach_the_config() {
    if !running_as_root("default_acl_of_the_directory_does_not_reach_the_config") {
        return;
    }
    let s = Scratch::new("dacl");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    sh(&format!("setfacl -d -m u:nobody:r '{}'", s.dir.display()));
    let o = s.add("a.example");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(s
        .read("prosody.cfg.lua")
        .contains("a-secret-of-twenty-bytes"));
    let acl = sh(&format!("getfacl -cp '{}'", cfg.display()));
    assert!(!acl.contains("nobody"), "{acl}");
    assert_eq!(std::fs::metadata(&cfg).unwrap().mode() & 0o7777, 0o640);
    let o = as_nobody(&["cat", cfg.to_str().unwrap()]);
    assert_ne!(code(&o), 0, "nobody read the config: {}", stdout(&o));
}

/// The config's own ACL and extended attributes survive an edit
/// (they were silently dropped).
#[test]
fn acl_and_xattrs_of_the_config_survive_an_edit() {
    if !running_as_root("acl_and_xattrs_of_the_config_survive_an_edit") {
        return;
    }
    let s = Scratch::new("acl");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    let c = cfg.display();
    sh(&format!(
        "setfacl -m u:nobody:r '{c}' && setfattr -n user.note -v kept '{c}' && setfattr -n trusted.t -v also '{c}'"
    ));
    let before = sh(&format!("getfacl -cp '{c}'; getfattr -d -m - '{c}'"));
    assert!(before.contains("user:nobody:r--") && before.contains("user.note"));
    let o = s.add("a.example");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The new file's access ACL is exactly the old one (and so its mask
    // and mode); user. and trusted. attributes are kept.
    assert_eq!(
        sh(&format!("getfacl -cp '{c}'; getfattr -d -m - '{c}'")),
        before
    );
    assert!(s.read("prosody.cfg.lua").contains("a.example"));
}

/// A settings file (or a directory above it) that another user
/// can write decides which file root edits: refused, naming the file.
#[test]
fn settings_others_can_write_are_refused() {
    if !running_as_root("settings_others_can_write_are_refused") {
        return;
    }
    let s = Scratch::new("settings");
    s.config("admins = { }\n");
    let settings = s.path("settings.toml");
    let list = || s.run(&["list"]);
    assert_eq!(code(&list()), 0, "{}", stderr(&list()));
    for (mode, uid, why) in [
        (0o666, 0, "lets every local user write it"),
        (0o664, 0, "lets its group write it"),
        (0o644, 65534, "belongs to uid 65534"),
    ] {
        chmod(&settings, mode);
        chown(&settings, uid, 0);
        let o = list();
        assert_eq!(code(&o), 1, "mode {mode:o} uid {uid}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(&settings.display().to_string()) && e.contains(why),
            "{e}"
        );
    }
    chmod(&settings, 0o644);
    chown(&settings, 0, 0);
    // An ACL entry that lets another user write it.
    sh(&format!("setfacl -m u:nobody:rw '{}'", settings.display()));
    let o = list();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ACL lets uid 65534 write it"),
        "{}",
        stderr(&o)
    );
    sh(&format!("setfacl -b '{}'", settings.display()));
    // A directory above it that others can write (without the sticky bit).
    let sub = s.path("open");
    std::fs::create_dir(&sub).unwrap();
    chmod(&sub, 0o777);
    std::fs::copy(&settings, sub.join("settings.toml")).unwrap();
    let o = s
        .ctl()
        .settings(sub.join("settings.toml"))
        .arg("list")
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lets others replace it"),
        "{}",
        stderr(&o)
    );
    // As nobody: root's file is trusted, so is its own, another user's not.
    let run_as_nobody = || {
        as_nobody(&[
            BIN,
            "--settings",
            settings.to_str().unwrap(),
            "-c",
            s.path("prosody.cfg.lua").to_str().unwrap(),
            "list",
        ])
    };
    let o = run_as_nobody();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    chown(&settings, 65534, 65534);
    let o = run_as_nobody();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    chown(&settings, 4242, 4242);
    let o = run_as_nobody();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("belongs to uid 4242"), "{}", stderr(&o));
}

/// `restore` must not take a "backup" from a world-writable backup
/// directory, or one planted by another user: its Lua would run as root at
/// the next check. Both `restore` and `restore --list` refuse.
#[test]
fn backups_others_can_write_are_never_restored() {
    if !running_as_root("backups_others_can_write_are_never_restored") {
        return;
    }
    let s = Scratch::new("restore");
    s.config("admins = { }\n");
    assert_eq!(code(&s.add("a.example")), 0);
    let backups = s.path("backups");
    let list = s.run(&["restore", "--list", "--json"]);
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let backup = PathBuf::from(json(&list)[0]["backup"].as_str().unwrap());
    assert!(backup.starts_with(&backups), "{}", stdout(&list));
    let after_add = s.read("prosody.cfg.lua");

    // A backup another user owns (or can write) is refused.
    std::fs::write(&backup, "os.execute('touch /tmp/pwned')\n").unwrap();
    for (mode, uid) in [(0o600, 65534), (0o666, 0)] {
        chown(&backup, uid, 0);
        chmod(&backup, mode);
        let o = s.run(&["restore", backup.to_str().unwrap()]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("refusing to use the backup")
                && stderr(&o).contains(&backup.display().to_string()),
            "{}",
            stderr(&o)
        );
        assert_eq!(s.read("prosody.cfg.lua"), after_add);
    }
    // A backup directory others can write: neither listed nor restored from.
    chown(&backup, 0, 0);
    chmod(&backup, 0o600);
    chmod(&backups, 0o777);
    for args in [
        &["restore", "--list"][..],
        &["restore", backup.to_str().unwrap()],
    ] {
        let o = s.run(args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("refusing to use the backup directory")
                && stderr(&o).contains("writable by group or others"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(s.read("prosody.cfg.lua"), after_add);
    chmod(&backups, 0o700);
    chown(&backups, 65534, 65534);
    let o = s.run(&["restore", "--list"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("belongs to uid 65534"),
        "{}",
        stderr(&o)
    );
}

/// Smaller: `backup_dir = ""` and a relative one are refused with the
/// settings file named, rather than putting backups wherever we were started.
#[test]
fn empty_or_relative_backup_dir_is_refused() {
    let s = Scratch::new("bdir");
    s.config("admins = { }\n");
    for (value, why) in [("", "backup_dir is empty"), ("backups", "relative path")] {
        s.write(
            "settings.toml",
            &format!("backups = 3\nbackup_dir = \"{value}\"\n"),
        );
        let o = s.add("a.example");
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("{}:2:1:", s.path("settings.toml").display())) && e.contains(why),
            "{e}"
        );
        assert_eq!(s.read("prosody.cfg.lua"), "admins = { }\n");
    }
}

/// A `--from-properties` path through a symbolic link another user planted
/// is refused, as the write of that file refuses it: the link could hand
/// root any file's contents as a component's secret.
#[test]
fn a_properties_link_planted_by_another_user_is_refused() {
    if !running_as_root("a_properties_link_planted_by_another_user_is_refused") {
        return;
    }
    let s = Scratch::new("props-link");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    let props = s.write(
        "manager.conf",
        "xmpp_jid=p.example\nxmpp_password=a-secret-of-twenty-bytes\n",
    );
    chmod(&props, 0o600);
    let home = s.path("home");
    std::fs::create_dir(&home).unwrap();
    chown(&home, 65534, 65534);
    let link = home.join("manager.conf");
    let o = as_nobody(&["ln", "-s", props.to_str().unwrap(), link.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for extra in [&[][..], &["--generate-secret"][..]] {
        let mut args = vec!["add", "--from-properties", link.to_str().unwrap()];
        args.extend(extra);
        let o = s.run(&args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!(
                "refusing to follow the symbolic link {} (owned by uid 65534)",
                link.display()
            )),
            "{}",
            stderr(&o)
        );
        assert_eq!(s.read("prosody.cfg.lua"), "admins = { }\n");
    }
    // A link of root's own is followed.
    let mine = s.path("mine.conf");
    std::os::unix::fs::symlink(&props, &mine).unwrap();
    let o = s.run(&["add", "--from-properties", mine.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A symlink planted by another user in a directory it owns,
/// pointing at root's config: root must not follow it and rewrite the
/// target. Root-owned links (Debian's conf.d → conf.avail) keep working.
#[test]
fn symlink_planted_by_another_user_is_refused() {
    if !running_as_root("symlink_planted_by_another_user_is_refused") {
        return;
    }
    let s = Scratch::new("link");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    let home = s.path("home");
    std::fs::create_dir(&home).unwrap();
    chown(&home, 65534, 65534);
    let link = home.join("cfg.lua");
    let o = as_nobody(&["ln", "-s", cfg.to_str().unwrap(), link.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let secret = s.secret("a-secret-of-twenty-bytes");
    let o = s
        .ctl()
        .config(&link)
        .args(["add", "a.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "refusing to follow the symbolic link {} (owned by uid 65534)",
            link.display()
        )),
        "{e}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), "admins = { }\n");

    // An Include through a root-owned conf.d link, as Debian ships it.
    s.write(
        "conf.avail/x.cfg.lua",
        "Component \"x.example\"\n\tcomponent_secret = \"old-secret-0123456789\"\n",
    );
    std::fs::create_dir(s.path("conf.d")).unwrap();
    std::os::unix::fs::symlink("../conf.avail/x.cfg.lua", s.path("conf.d/x.cfg.lua")).unwrap();
    std::fs::write(&cfg, "admins = { }\nInclude \"conf.d/*.cfg.lua\"\n").unwrap();
    let o = s
        .ctl()
        .args(["add", "x.example", "--replace"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(s
        .read("conf.avail/x.cfg.lua")
        .contains("a-secret-of-twenty-bytes"));
    assert!(std::fs::symlink_metadata(s.path("conf.d/x.cfg.lua"))
        .unwrap()
        .file_type()
        .is_symlink());
    // The same include link owned by another user: refused, nothing changed.
    let before = s.read("conf.avail/x.cfg.lua");
    let l = s.path("conf.d/x.cfg.lua");
    sh(&format!("chown -h nobody '{}'", l.display()));
    let o = s.run(&["remove", "x.example"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to follow the symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("conf.avail/x.cfg.lua"), before);
}

/// Root locks a file only root can open, not the config's directory: any
/// user who can read that directory could hold its flock and stall root's
/// `add` until the timeout.
#[test]
fn a_lock_held_by_another_user_does_not_stall_root() {
    if !running_as_root("a_lock_held_by_another_user_does_not_stall_root") {
        return;
    }
    let s = Scratch::new("lockdos");
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\nlock_timeout_secs = 1\n",
            s.path("backups").display()
        ),
    );
    s.config("admins = { }\n");
    let dir = s.dir.to_str().unwrap().to_string();
    let mut holder = Command::new("setpriv")
        .args(AS_NOBODY)
        .args(["flock", "-x", &dir, "sleep", "30"])
        .spawn()
        .unwrap();
    // Wait until nobody holds it.
    let t = Instant::now();
    while Command::new("flock")
        .args(["-n", &dir, "true"])
        .status()
        .unwrap()
        .success()
    {
        assert!(t.elapsed() < Duration::from_secs(10), "flock never taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = s.add("a.example");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(s.read("prosody.cfg.lua").contains("a.example"));
    // Root's lock directory: no one else may enter it.
    let m = std::fs::symlink_metadata("/run/fogbow-xmpp-ctl").unwrap();
    assert!(m.is_dir() && m.uid() == 0 && m.mode() & 0o7777 == 0o700);
    let o = as_nobody(&["ls", "/run/fogbow-xmpp-ctl"]);
    assert_ne!(code(&o), 0);
}

/// `x_y.cfg.lua` and `x/y.cfg.lua` have backup prefixes of their own:
/// each lists (and restores) only its own backups, and editing one never
/// prunes the other's.
#[test]
fn backups_of_x_y_and_x_slash_y_stay_apart() {
    let s = Scratch::new("names");
    let flat = s.write("x_y.cfg.lua", "-- flat\n");
    let nested = s.write("x/y.cfg.lua", "-- nested\n");
    let secret = s.secret("a-secret-of-twenty-bytes");
    for cfg in [&flat, &nested] {
        let o = s
            .ctl()
            .config(cfg)
            .args(["add", "a.example"])
            .secret_file(&secret)
            .output();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    for (cfg, original) in [(&flat, "-- flat\n"), (&nested, "-- nested\n")] {
        let o = s
            .ctl()
            .config(cfg)
            .args(["restore", "--list", "--json"])
            .output();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let listed: Vec<String> = json(&o)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["backup"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed.len(), 1, "{}: {listed:?}", cfg.display());
        assert_eq!(std::fs::read_to_string(&listed[0]).unwrap(), original);
        let o = s.ctl().config(cfg).args(["restore", &listed[0]]).output();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(cfg).unwrap(), original);
    }
}

/// Smaller: a single-file bind mount (a config mounted into a container)
/// cannot be replaced by rename (EBUSY): a clear hint, nothing changed.
#[test]
fn a_bind_mounted_config_gets_a_hint() {
    if !running_as_root("a_bind_mounted_config_gets_a_hint") {
        return;
    }
    let s = Scratch::new("bind");
    let source = s.write("host/prosody.cfg.lua", "admins = { }\n");
    let cfg = s.config("admins = { }\n");
    let _m = Mount::bind(&source, &cfg);
    let o = s.add("a.example");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("mount point") && e.contains("edit the file it is mounted from"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&source).unwrap(), "admins = { }\n");
    assert_eq!(temp_files(&s.dir), Vec::<String>::new());
}

/// A component in the main file and in an include on a read-only mount:
/// every file is prepared before the first rename, so `remove` fails
/// (exit 1) with nothing changed, the main file included.
#[test]
fn a_failed_multi_file_remove_changes_nothing() {
    if !running_as_root("a_failed_multi_file_remove_changes_nothing") {
        return;
    }
    let s = Scratch::new("multi");
    let main = "admins = { }\nComponent \"c.example\"\n\tcomponent_secret = \"secret-in-main-0123\"\nInclude \"conf.d/*.cfg.lua\"\n";
    s.config(main);
    let inc = "Component \"c.example\"\n\tcomponent_secret = \"secret-in-include-01\"\n";
    s.write("conf.d/c.cfg.lua", inc);
    let confd = s.path("conf.d");
    let _ro = Mount::bind(&confd, &confd);
    sh(&format!("mount -o remount,ro,bind '{}'", confd.display()));
    let o = s.run(&["remove", "c.example"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), main);
    assert_eq!(s.read("conf.d/c.cfg.lua"), inc);
    assert_eq!(temp_files(&s.dir), Vec::<String>::new());
    // No backup of a change that never happened.
    let o = s.run(&["restore", "--list"]);
    assert_eq!(stdout(&o), "", "{}", stderr(&o));
}
