//! `doctor`: the config read (as far as it parses, when it is broken: the
//! checklist is most needed then) and handed to the checklist in
//! [`super::checklist`].

use super::reading;
use super::Context;
use crate::error::Error;

/// The checklist of `doctor` for every external component.
pub fn doctor(
    ctx: &Context,
    public: &[std::net::IpAddr],
) -> Result<super::checklist::Report, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let listener = crate::prosody::listener::effective(&set).map_err(Error::refused)?;
    let pending = super::pending_in(&set);
    Ok(super::checklist::run(
        &ctx.config,
        &ctx.settings.prosody_lib,
        &set,
        &listener,
        public,
        breakage,
        &pending,
    ))
}
