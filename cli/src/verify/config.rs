//! `tl.toml`: the project file `tlc verify` reads (found upward from the cwd or the given path),
//! through the one resolver both front ends use, `tl_ide::project::ProjectFile`.

pub use tl_ide::project::{check_fail_on, ProjectFile as Config};
