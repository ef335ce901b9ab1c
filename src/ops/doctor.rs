//! `doctor`: the config read (as far as it parses, when it is broken: the
//! checklist is most needed then) and handed to the checklist in
//! [`crate::system::doctor`].

use super::reading;
use super::{Context, Error};

/// The checklist of `doctor` for every external component.
pub fn doctor(
    ctx: &Context,
    public: &[std::net::IpAddr],
) -> Result<crate::system::doctor::Report, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let listener = crate::prosody::listener::effective(&set).map_err(Error::refused)?;
    let pending = super::pending_in(&set);
    Ok(crate::system::doctor::run(
        &ctx.config,
        &set,
        &listener,
        public,
        breakage,
        &pending,
    ))
}
