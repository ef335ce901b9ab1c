//! The running system around the config: the prosody service ([`service`]:
//! guarded restart and reload), the journal ([`journal`]: diagnostics as
//! structured records, the audit trail), a real XEP-0114 handshake against
//! the running server (`probe`), what the running prosody holds
//! (`running`), the secrets behind the config's references as prosody
//! will read them (`secret_refs`), and systemd's encrypted credentials
//! ([`credentials`]; which ones prosody.service gets: `unit_credentials`),
//! and the installed prosody's own configmanager ([`loader`]). Every
//! program is run through `run`: one runner, with a deadline and a typed
//! error, waited for at once or started now and waited for later.

pub mod credentials;
pub mod journal;
pub mod loader;
pub(crate) mod probe;
pub(crate) mod run;
pub(crate) mod running;
pub(crate) mod secret_refs;
pub mod service;
pub(crate) mod unit_credentials;
