//! Hostile and odd input, table-driven: names, secrets and configs. Each
//! case has its documented outcome (a clear error naming the problem, or a
//! correct edit), leaves the file untouched on error, never panics, never
//! hangs (a deadline), and stays within a memory bound (peak RSS).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

enum Expect {
    /// The edit is made; prosody's configmanager reads back this secret for the name.
    Added,
    /// Exit 0 (e.g. "unchanged"), file byte-identical.
    Same,
    /// Exit 1, the file untouched, stderr contains this.
    Error(&'static str),
}

struct Case {
    tag: &'static str,
    config: Vec<u8>,
    name: String,
    secret: Vec<u8>,
    expect: Expect,
}

fn case(tag: &'static str, config: &[u8], name: &str, secret: &[u8], expect: Expect) -> Case {
    Case {
        tag,
        config: config.to_vec(),
        name: name.to_string(),
        secret: secret.to_vec(),
        expect,
    }
}

const GOOD: &[u8] = b"admins = { }\n";
const SECRET: &[u8] = b"a-good-secret-0123456789";

/// Runs `add NAME --secret-file -` on the scratch's config with a deadline,
/// the secret on standard input; returns (exit code, stderr, peak RSS in KB).
fn add_bounded(
    s: &Scratch,
    name: &str,
    stdin: &[u8],
    with_prosody: bool,
) -> (Option<i32>, String, u64) {
    // `time` counts the children it waits for: to bound our own process,
    // leave out prosody's loader (a Lua process that holds the whole file,
    // as prosody does at start; that step is tested in tests/prosody.rs).
    let settings = match with_prosody {
        true => s.path("settings.toml"),
        false => s.settings_with_lib("/nonexistent"),
    };
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("FXC_MAXRSS=%M")
        .arg(BIN)
        .arg("--settings")
        .arg(settings)
        .arg("-c")
        .arg(s.path("prosody.cfg.lua"));
    cmd.args(["add", name, "--secret-file", "-"]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        let _ = i.write_all(stdin);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hung for 60 s: add {name:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let rss = err
        .lines()
        .find_map(|l| l.strip_prefix("FXC_MAXRSS="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let code = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Command exited with non-zero status "))
        .and_then(|c| c.trim().parse().ok());
    let err: String = err
        .lines()
        .filter(|l| !l.starts_with("FXC_MAXRSS=") && !l.starts_with("Command exited"))
        .collect::<Vec<_>>()
        .join("\n");
    (Some(code.unwrap_or(0)), err, rss)
}

fn cases() -> Vec<Case> {
    let long_label = format!("{}.example", "l".repeat(63));
    let too_long_label = format!("{}.example", "l".repeat(64));
    let too_long_name = format!("{}.example", ["abcdefghi"; 25].join("."));
    let mib = vec![b'x'; 1 << 20];
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let nested = format!("x = {}{}\n", "{".repeat(1000), "}".repeat(1000));
    vec![
        // Names.
        case(
            "name-space",
            GOOD,
            "a b.example",
            SECRET,
            Expect::Error("contains a space"),
        ),
        case(
            "name-dquote",
            GOOD,
            "a\"b.example",
            SECRET,
            Expect::Error("contains '\"'"),
        ),
        case(
            "name-squote",
            GOOD,
            "a'b.example",
            SECRET,
            Expect::Error("contains '''"),
        ),
        case(
            "name-backslash",
            GOOD,
            "a\\b.example",
            SECRET,
            Expect::Error("contains '\\'"),
        ),
        case(
            "name-slash",
            GOOD,
            "a/b.example",
            SECRET,
            Expect::Error("contains '/'"),
        ),
        case(
            "name-at",
            GOOD,
            "user@b.example",
            SECRET,
            Expect::Error("contains '@'"),
        ),
        case(
            "name-unicode",
            GOOD,
            "b\u{fc}cher.example",
            SECRET,
            Expect::Added,
        ),
        case(
            "name-uppercase",
            GOOD,
            "UPPER.Example",
            SECRET,
            Expect::Added,
        ),
        case("name-label-63", GOOD, &long_label, SECRET, Expect::Added),
        case(
            "name-label-64",
            GOOD,
            &too_long_label,
            SECRET,
            Expect::Error("at most 63"),
        ),
        case(
            "name-too-long",
            GOOD,
            &too_long_name,
            SECRET,
            Expect::Error("at most 253"),
        ),
        case("name-empty", GOOD, "", SECRET, Expect::Error("empty")),
        case(
            "name-empty-label",
            GOOD,
            "a..b",
            SECRET,
            Expect::Error("empty label"),
        ),
        case(
            "name-leading-dot",
            GOOD,
            ".a",
            SECRET,
            Expect::Error("starts or ends with a dot"),
        ),
        case(
            "name-rtl-override",
            GOOD,
            "a\u{202e}b",
            SECRET,
            Expect::Error("contains"),
        ),
        case(
            "name-newline",
            GOOD,
            "a\nb",
            SECRET,
            Expect::Error("control character"),
        ),
        // Secrets.
        case(
            "secret-dquote",
            GOOD,
            "s1.example",
            b"se\"cr\"et",
            Expect::Added,
        ),
        case(
            "secret-backslash",
            GOOD,
            "s2.example",
            b"se\\cr\\\\et\\",
            Expect::Added,
        ),
        case(
            "secret-close-long",
            GOOD,
            "s3.example",
            b"]]",
            Expect::Added,
        ),
        case(
            "secret-open-long",
            GOOD,
            "s4.example",
            b"[==[",
            Expect::Added,
        ),
        case(
            "secret-comment",
            GOOD,
            "s5.example",
            b"--[[ not a comment",
            Expect::Added,
        ),
        case(
            "secret-percent",
            GOOD,
            "s6.example",
            b"%s%d%%%q",
            Expect::Added,
        ),
        case(
            "secret-non-ascii",
            GOOD,
            "s7.example",
            "p\u{e4}ssw\u{f6}rd-\u{79d8}\u{5bc6}".as_bytes(),
            Expect::Added,
        ),
        case(
            "secret-escapes-literal",
            GOOD,
            "s8.example",
            b"\\z\\x41\\u{41}\\065",
            Expect::Added,
        ),
        case(
            "secret-invalid-utf8",
            GOOD,
            "s9.example",
            b"\xff\xfe-bytes",
            Expect::Added,
        ),
        case(
            "secret-spaces",
            GOOD,
            "s10.example",
            b"  spaces  ",
            Expect::Added,
        ),
        case(
            "secret-injection",
            GOOD,
            "s11.example",
            b"\"; os.execute(\"touch /tmp/fxc-pwned\") --",
            Expect::Added,
        ),
        case(
            "secret-1mib",
            GOOD,
            "s12.example",
            &mib,
            Expect::Error("longer than 1024 bytes"),
        ),
        case(
            "secret-1024",
            GOOD,
            "s12.example",
            &mib[..1024],
            Expect::Added,
        ),
        case(
            "secret-nul",
            GOOD,
            "s13.example",
            b"a\0b",
            Expect::Error("NUL"),
        ),
        case(
            "secret-newline",
            GOOD,
            "s14.example",
            b"a\nb",
            Expect::Error("newline"),
        ),
        case(
            "secret-tab",
            GOOD,
            "s15.example",
            b"a\tb",
            Expect::Error("tab"),
        ),
        case(
            "secret-empty",
            GOOD,
            "s16.example",
            b"",
            Expect::Error("the secret is empty"),
        ),
        // Configs.
        case(
            "config-junk",
            &junk,
            "a.example",
            SECRET,
            Expect::Error("error[syntax]"),
        ),
        case(
            "config-nested",
            nested.as_bytes(),
            "a.example",
            SECRET,
            Expect::Error("too many syntax levels"),
        ),
        case(
            "config-unterminated-string",
            b"x = [==[\nComponent \"a.example\"\n",
            "a.example",
            SECRET,
            Expect::Error("unfinished long string"),
        ),
        case(
            "config-unterminated-comment",
            b"x = 1\n--[[ never closed\n",
            "a.example",
            SECRET,
            Expect::Error("unfinished long comment"),
        ),
        case(
            "config-crlf",
            b"admins = { }\r\nx = 1\r\n",
            "a.example",
            SECRET,
            Expect::Added,
        ),
        case(
            "config-bom",
            b"\xEF\xBB\xBFadmins = { }\n",
            "a.example",
            SECRET,
            Expect::Error("byte order mark"),
        ),
        case(
            "config-no-final-newline",
            b"admins = { }",
            "a.example",
            SECRET,
            Expect::Added,
        ),
        case(
            "config-component-in-string",
            b"x = \"Component \\\"a.example\\\"\"\n",
            "a.example",
            SECRET,
            Expect::Added,
        ),
        case(
            "config-component-in-comment",
            b"--[==[\nComponent \"a.example\"\n\tcomponent_secret = \"other\"\n]==]\n",
            "a.example",
            SECRET,
            Expect::Added,
        ),
        case(
            "config-includes-itself",
            b"Include \"prosody.cfg.lua\"\n",
            "a.example",
            SECRET,
            Expect::Error("error[include-loop]"),
        ),
        case(
            "config-hash-comment",
            b"# Fogbow guide\nadmins = { }\n",
            "a.example",
            SECRET,
            Expect::Error("Lua comments start with `--`"),
        ),
        case(
            "config-shebang",
            b"#!/usr/bin/lua\nadmins = { }\n",
            "a.example",
            SECRET,
            Expect::Error("#!"),
        ),
        case("config-empty", b"", "a.example", SECRET, Expect::Added),
        case(
            "config-include-missing",
            b"Include \"missing.cfg.lua\"\n",
            "a.example",
            SECRET,
            Expect::Error("error[include-missing]"),
        ),
        case(
            "config-same-name-other-case",
            b"Component \"A.Example\"\n\tcomponent_secret = \"a-good-secret-0123456789\"\n",
            "a.example",
            SECRET,
            Expect::Same,
        ),
    ]
}

#[test]
fn hostile_table() {
    let all = cases();
    assert!(all.len() >= 40, "{}", all.len());
    let real = real_parts_available();
    for c in all {
        let s = Scratch::new(c.tag);
        let cfg = s.path("prosody.cfg.lua");
        std::fs::write(&cfg, &c.config).unwrap();
        // One trailing newline is stripped from a secret file: add one, so
        // the secret's own bytes reach the tool as they are.
        let stdin = [&c.secret[..], b"\n"].concat();
        let (code, err, rss) = add_bounded(&s, &c.name, &stdin, true);
        let tag = c.tag;
        assert!(!err.contains("panicked"), "{tag}: {err}");
        assert!(rss < 200_000, "{tag}: peak RSS {rss} KB");
        let now = std::fs::read(&cfg).unwrap();
        match c.expect {
            Expect::Error(want) => {
                assert_eq!(code, Some(1), "{tag}: {err}");
                assert!(err.contains(want), "{tag}: wanted {want:?} in {err}");
                assert_eq!(now, c.config, "{tag}: the file changed");
                if c.secret.len() > 8 && c.secret.len() < 1000 {
                    assert!(
                        !err.contains(&*String::from_utf8_lossy(&c.secret)),
                        "{tag}: the secret leaked"
                    );
                }
            }
            Expect::Same => {
                assert_eq!(code, Some(0), "{tag}: {err}");
                assert_eq!(now, c.config, "{tag}: the file changed");
            }
            Expect::Added => {
                assert_eq!(code, Some(0), "{tag}: {err}");
                if real {
                    let got = prosody_value(&cfg, &c.name.to_lowercase(), "component_secret")
                        .unwrap_or_else(|e| panic!("{tag}: {e}"));
                    assert_eq!(
                        got.as_deref(),
                        Some(&c.secret[..]),
                        "{tag}: read back by prosody"
                    );
                    // Nothing else appeared in what prosody loads.
                    let dump = prosody_dump(&cfg).unwrap();
                    let hosts: std::collections::BTreeSet<&str> =
                        dump.lines().filter_map(|l| l.split('\t').next()).collect();
                    let name = format!("{:?}", c.name.to_lowercase());
                    assert!(hosts.contains(name.as_str()), "{tag}: {dump}");
                    assert!(
                        hosts.iter().all(|h| *h == "\"*\"" || *h == name),
                        "{tag}: {dump}"
                    );
                }
                // And removing it restores the original bytes.
                let o = s.ctl().config(&cfg).args(["remove", &c.name]).output();
                assert!(
                    o.status.success(),
                    "{tag}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                assert_eq!(
                    std::fs::read(&cfg).unwrap(),
                    c.config,
                    "{tag}: remove(add(x)) != x"
                );
            }
        }
    }
    assert!(!Path::new("/tmp/fxc-pwned").exists(), "a secret ran code");
}

/// A 50 MiB config: edited correctly, in bounded time and memory.
#[test]
fn fifty_mib_config() {
    let s = Scratch::new("50mib");
    let cfg = s.path("prosody.cfg.lua");
    let mut text = b"admins = { }\n--[[ padding\n".to_vec();
    let line = b"-- Component \"fake.example\" component_secret = \"not real\" ]=] [==[ \r\n";
    while text.len() < 50 << 20 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(b"]]\nx = 1\n");
    std::fs::write(&cfg, &text).unwrap();
    s.write("settings.toml", "backups = 0\n");
    let (code, err, rss) = add_bounded(&s, "big.example", b"a-good-secret-0123456789\n", false);
    assert_eq!(code, Some(0), "{err}");
    let kb = (text.len() / 1024) as u64;
    eprintln!(
        "50 MiB config: peak RSS {rss} KB = {:.1}x the file",
        rss as f64 / kb as f64
    );
    // The edit is made in the buffer the file was read into, and the old
    // model is dropped before the new one is checked: the text is held once.
    assert!(rss < kb * 3 / 2, "peak RSS {rss} KB for a {kb} KB file");
    let now = std::fs::read(&cfg).unwrap();
    assert!(
        now.starts_with(&text)
            && now.ends_with(
                b"Component \"big.example\"\n\tcomponent_secret = \"a-good-secret-0123456789\"\n"
            )
    );
}
