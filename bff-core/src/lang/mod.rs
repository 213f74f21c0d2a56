//! The two small languages of composition specs, compiled once when specs
//! load: tera templates for strings (paths, query values, headers, bodies)
//! and jq expressions (via jaq) for data.

pub mod expr;
pub mod template;
