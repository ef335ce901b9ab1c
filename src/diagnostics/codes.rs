// The diagnostic codes `check` reports: part of the contract (README's table,
// `check --help`, the man page, the JSON's `code`), so they are written once,
// here. This file uses nothing but `std`: `src/cli.rs` includes it (and
// `build.rs` includes `src/cli.rs`), so the help text and the man page list
// exactly these codes.

/// How bad a finding is: an error fails `check` (and the systemd gate),
/// a warning does not unless `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    /// The word the contract uses: `error`, `warning`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl core::fmt::Display for Severity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind of finding. The order is the order of `check --help`'s list:
/// errors first, then warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    Syntax,
    IncludeMissing,
    IncludeLoop,
    BadHostName,
    HostClash,
    ComponentSecretMissing,
    ComponentModuleIgnored,
    DuplicateComponentSecret,
    CredentialMissing,
    CredentialNameInvalid,
    SecretFileMissing,
    ProsodyLoad,
    Unreadable,
    UnusableHostName,
    ComponentNameSpelling,
    GlobalOptionInSection,
    DuplicateOption,
    DuplicateComponent,
    WeakSecret,
    SecretUnverified,
    OpaqueOption,
    ShadowedOption,
}

impl Code {
    /// Every code, in the order they are listed.
    pub const ALL: [Code; 22] = [
        Code::Syntax,
        Code::IncludeMissing,
        Code::IncludeLoop,
        Code::BadHostName,
        Code::HostClash,
        Code::ComponentSecretMissing,
        Code::ComponentModuleIgnored,
        Code::DuplicateComponentSecret,
        Code::CredentialMissing,
        Code::CredentialNameInvalid,
        Code::SecretFileMissing,
        Code::ProsodyLoad,
        Code::Unreadable,
        Code::UnusableHostName,
        Code::ComponentNameSpelling,
        Code::GlobalOptionInSection,
        Code::DuplicateOption,
        Code::DuplicateComponent,
        Code::WeakSecret,
        Code::SecretUnverified,
        Code::OpaqueOption,
        Code::ShadowedOption,
    ];

    /// The code as output shows it (`error[host-clash]`, `"code": "host-clash"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::IncludeMissing => "include-missing",
            Code::IncludeLoop => "include-loop",
            Code::BadHostName => "bad-host-name",
            Code::HostClash => "host-clash",
            Code::ComponentSecretMissing => "component-secret-missing",
            Code::ComponentModuleIgnored => "component-module-ignored",
            Code::DuplicateComponentSecret => "duplicate-component-secret",
            Code::CredentialMissing => "credential-missing",
            Code::CredentialNameInvalid => "credential-name-invalid",
            Code::SecretFileMissing => "secret-file-missing",
            Code::ProsodyLoad => "prosody-load",
            Code::Unreadable => "unreadable",
            Code::UnusableHostName => "unusable-host-name",
            Code::ComponentNameSpelling => "component-name-spelling",
            Code::GlobalOptionInSection => "global-option-in-section",
            Code::DuplicateOption => "duplicate-option",
            Code::DuplicateComponent => "duplicate-component",
            Code::WeakSecret => "weak-secret",
            Code::SecretUnverified => "secret-unverified",
            Code::OpaqueOption => "opaque-option",
            Code::ShadowedOption => "shadowed-option",
        }
    }

    /// Errors are what stops prosody (or makes it refuse components);
    /// warnings are what prosody loads but the operator should not want.
    pub const fn severity(self) -> Severity {
        match self {
            Code::Syntax
            | Code::IncludeMissing
            | Code::IncludeLoop
            | Code::BadHostName
            | Code::HostClash
            | Code::ComponentSecretMissing
            | Code::DuplicateComponentSecret
            | Code::CredentialMissing
            | Code::CredentialNameInvalid
            | Code::SecretFileMissing
            | Code::ProsodyLoad
            | Code::Unreadable => Severity::Error,
            Code::UnusableHostName
            | Code::ComponentNameSpelling
            | Code::GlobalOptionInSection
            | Code::DuplicateOption
            | Code::DuplicateComponent
            | Code::ComponentModuleIgnored
            | Code::WeakSecret
            | Code::SecretUnverified
            | Code::OpaqueOption
            | Code::ShadowedOption => Severity::Warning,
        }
    }

    /// One line for `check --help` and the man page.
    pub(crate) const fn description(self) -> &'static str {
        match self {
            Code::Syntax => "a Lua syntax error; every # comment line is reported, with its fix",
            Code::IncludeMissing => "a named Include that cannot be read",
            Code::IncludeLoop => "a file that includes itself, or Includes nested too deep",
            Code::BadHostName => "a VirtualHost/Component name prosody's nameprep rejects",
            Code::HostClash => "a Component with the name of a VirtualHost, or the reverse",
            Code::ComponentSecretMissing => "an external component without component_secret",
            Code::ComponentModuleIgnored => {
                "Component(\"x\", \"muc\"): prosody ignores the second argument"
            }
            Code::DuplicateComponentSecret => {
                "two blocks for one component with different secrets (the last wins)"
            }
            Code::CredentialMissing => {
                "a Credential(\"NAME\") secret that prosody.service does not load"
            }
            Code::CredentialNameInvalid => {
                "a Credential(\"fogbow-xmpp-ctl.…\") name no unit may hold (newline, space, : % \\ quotes)"
            }
            Code::SecretFileMissing => {
                "a FileContents/FileLine secret whose file prosody cannot read"
            }
            Code::ProsodyLoad => "prosody's own configmanager refuses the config",
            Code::Unreadable => "the main config cannot be read (no line, no column)",
            Code::UnusableHostName => "a name prosody loads but no XMPP address can use",
            Code::ComponentNameSpelling => {
                "an external component name nameprep changes (MiXed, ß): it must connect as nameprep's form"
            }
            Code::GlobalOptionInSection => "a global-only option set under a VirtualHost/Component",
            Code::DuplicateOption => "an option set twice in one section",
            Code::DuplicateComponent => "two blocks for one component",
            Code::WeakSecret => {
                "a secret shorter than 16 bytes, or a placeholder (also behind Credential/FileContents)"
            }
            Code::SecretUnverified => {
                "a secret behind Credential()/FileContents() that cannot be read here (not root)"
            }
            Code::OpaqueOption => "code that sets options where a static reading cannot follow",
            Code::ShadowedOption => "an option assigned after a top-level `local` of its name",
        }
    }

    /// `check --help`'s list: `  CODE (SEVERITY)  description`, aligned
    /// (the man page's too: build.rs includes this file).
    pub fn list() -> String {
        let label = |c: Code| {
            let mut s = String::from(c.as_str());
            s.push_str(" (");
            s.push_str(c.severity().as_str());
            s.push(')');
            s
        };
        let width = Code::ALL.iter().map(|&c| label(c).len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in Code::ALL {
            let l = label(c);
            out.push_str("  ");
            out.push_str(&l);
            out.push_str(&" ".repeat(width - l.len() + 1));
            out.push_str(c.description());
            out.push('\n');
        }
        out
    }
}

impl core::fmt::Display for Code {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
