//! Running commands with the command line printed first, so the user always sees what happens.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

pub type Result<T = ()> = std::result::Result<T, String>;

/// Prints a line prefixed with `xtask:`.
pub fn say(message: impl AsRef<str>) {
    println!("xtask: {}", message.as_ref());
}

/// The `cargo` that runs this xtask, so nested builds use the same toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("{program} {}", args.join(" ")).trim_end().to_owned()
}

/// Runs `command` with inherited output; fails with the command line if it fails.
pub fn run(command: &mut Command) -> Result {
    println!("  $ {}", describe(command));
    let status = command.status().map_err(|e| format!("cannot run `{}`: {e}", describe(command)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", describe(command))) }
}

/// Runs `program args…` quietly and returns its trimmed stdout, or `None` if it cannot run or fails.
pub fn output<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Option<String> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
