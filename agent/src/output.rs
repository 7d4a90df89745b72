//! What the agent tells the person running it, on stderr, so stdout stays the command's result.

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Nothing but errors.
    Quiet,
    /// What the agent does on the user's behalf: discovery, registration, login, refresh.
    Normal,
    /// Also every request it makes for that (URLs and statuses, never secrets).
    Verbose,
}

/// Progress messages on stderr.
#[derive(Debug, Clone)]
pub struct Progress {
    verbosity: Verbosity,
}

impl Progress {
    pub fn new(verbosity: Verbosity) -> Self {
        Self { verbosity }
    }

    /// A step the user should know happened.
    pub fn step(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            eprintln!("mcp-agent: {}", message.as_ref());
        }
    }

    /// Detail for `--verbose`.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("mcp-agent:   {}", message.as_ref());
        }
    }

    /// Something the user must see even with `--quiet` (where to log in).
    pub fn always(&self, message: impl AsRef<str>) {
        eprintln!("{}", message.as_ref());
    }
}
