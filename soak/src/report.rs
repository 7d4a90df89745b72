//! What a scenario tried, what it measured, and every promise it saw broken.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct Report {
    pub name: String,
    /// Broken promises. A scenario passes when this stays empty.
    pub violations: Vec<String>,
}

impl Report {
    pub fn new(name: &str) -> Self {
        println!("\n== {name}");
        Self { name: name.to_owned(), ..Default::default() }
    }

    /// Something tried or measured.
    pub fn say(&mut self, line: impl AsRef<str>) {
        println!("   {}", line.as_ref());
    }

    /// Checks a promise: `held` or a violation described by `what`.
    pub fn check(&mut self, held: bool, what: impl Into<String>) {
        let what = what.into();
        if held {
            println!("   ok    {what}");
        } else {
            println!("   FAIL  {what}");
            self.violations.push(what);
        }
    }

    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The `p`-th percentile (0–100) of `samples`, sorted in place.
pub fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    samples[(samples.len() - 1) * p.min(100) / 100]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
