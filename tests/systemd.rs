//! The drop-in against Debian's real `prosody.service`, verified by systemd.
//! (The gate under a running systemd is `tests/systemd/gate.sh`.)

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

const DROP_IN: &str = include_str!("../systemd/prosody.service.d/fogbow-xmpp-ctl.conf");

/// `systemd-analyze verify` on prosody.service plus a drop-in; its output
/// must be empty (it exits 0 on many mistakes and only prints them).
fn verify(s: &Scratch, drop_in: &str) -> (bool, String) {
    let units = s.path("units");
    std::fs::create_dir_all(units.join("prosody.service.d")).unwrap();
    std::fs::copy(
        "/lib/systemd/system/prosody.service",
        units.join("prosody.service"),
    )
    .unwrap();
    std::fs::write(
        units.join("prosody.service.d/fogbow-xmpp-ctl.conf"),
        drop_in,
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify"])
        .arg(units.join("prosody.service"))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success() && text.trim().is_empty(), text)
}

#[test]
fn drop_in_verifies_against_debians_prosody_service() {
    if !real_parts_available() {
        return;
    }
    assert!(Path::new("/lib/systemd/system/prosody.service").exists());
    let s = Scratch::new("verify");
    // The unit names /usr/bin/fogbow-xmpp-ctl; here the binary under test stands in.
    let (ok, out) = verify(&s, &DROP_IN.replace("/usr/bin/fogbow-xmpp-ctl", BIN));
    assert!(ok, "systemd-analyze verify: {out}");
    // The same verification does catch a broken drop-in.
    let (ok, out) = verify(
        &s,
        &format!("{DROP_IN}\nBogusKey=1\n").replace("/usr/bin/fogbow-xmpp-ctl", BIN),
    );
    assert!(!ok && out.contains("BogusKey"), "{out}");
}

#[test]
fn drop_in_runs_the_check_before_start_and_reload() {
    let lines: Vec<&str> = DROP_IN
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines,
        vec![
            "[Service]",
            "ExecStartPre=/usr/bin/fogbow-xmpp-ctl check --quiet",
            "ExecReload=",
            "ExecReload=/usr/bin/fogbow-xmpp-ctl check --quiet",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ]
    );
}
