//! `doctor`: the config loaded and handed to the checklist in
//! [`crate::doctor`].

use super::pipeline::load_config;
use super::{Context, Error};

/// The checklist of `doctor` for every external component.
pub fn doctor(ctx: &Context, public: &[std::net::IpAddr]) -> Result<crate::doctor::Report, Error> {
    let set = load_config(&ctx.config)?;
    let listener = crate::listener::effective(&set).map_err(Error::refused)?;
    Ok(crate::doctor::run(&ctx.config, &set, &listener, public))
}
