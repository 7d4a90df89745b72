//! The policy engine against the demo's catalog and policy, and the offline commands.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mcp_gateway::catalog::Catalog;
use mcp_gateway::cli::read_catalog;
use mcp_gateway::policy::{CallFacts, Consent, Decision, Policies};
use serde_json::{Map, Value, json};

fn demo(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo").join(file)
}

fn catalog() -> Catalog {
    read_catalog(&demo("catalog.json")).unwrap()
}

fn load(text: &str) -> Policies {
    Policies::load("test.cedar", text, &catalog()).unwrap()
}

fn demo_policies() -> Policies {
    load(&std::fs::read_to_string(demo("policy.cedar")).unwrap())
}

struct Call {
    groups: Vec<String>,
    scopes: Vec<String>,
    arguments: Map<String, Value>,
}

fn call(groups: &[&str], scopes: &str, arguments: Value) -> Call {
    Call {
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        arguments: arguments.as_object().cloned().unwrap(),
    }
}

impl Call {
    fn facts<'a>(&'a self, tool: &'a str) -> CallFacts<'a> {
        CallFacts {
            user: "alice",
            groups: &self.groups,
            client_id: "agent",
            client_registration: "dynamic",
            tool,
            arguments: &self.arguments,
            time: 1_700_000_000,
            client_address: "127.0.0.1",
            scopes: &self.scopes,
            auth_time: 1_699_999_000,
        }
    }
}

fn decide(policies: &Policies, tool: &str, call: &Call) -> Decision {
    policies.decide(&call.facts(tool))
}

#[test]
fn the_demo_policy_decides_each_kind_of_call_as_it_says() {
    let policies = demo_policies();
    let plain = call(&[], "notes:read notes:write", json!({}));
    let read = decide(&policies, "demo__list_notes", &plain);
    assert!(read.allowed && read.consent.is_none(), "{read:?}");
    assert_eq!(read.determining, ["read-automatically"]);
    assert_eq!(read.policy_hash, policies.hash());

    let add = call(&[], "notes:write", json!({"title": "Groceries", "body": "milk"}));
    assert_eq!(decide(&policies, "demo__add_note", &add).consent, None);
    let urgent = call(&[], "notes:write", json!({"title": "urgent: call back", "body": ""}));
    let urgent = decide(&policies, "demo__add_note", &urgent);
    assert!(urgent.allowed);
    assert_eq!(urgent.consent, Some(Consent::For(Duration::from_secs(3600))));
    // The policy permits writing; the write scope is the gateway's to demand (step-up), and
    // `context.scopes` is what the call will carry.
    let add =
        decide(&policies, "demo__add_note", &call(&[], "notes:write", json!({"title": "a", "body": "b"})));
    assert_eq!(add.determining, ["write-own-notes"]);

    let delete = json!({"id": 7});
    assert!(!decide(&policies, "demo__delete_note", &call(&[], "notes:write", delete.clone())).allowed);
    let admin = decide(&policies, "demo__delete_note", &call(&["admins"], "notes:write", delete));
    assert!(admin.allowed);
    assert_eq!(admin.consent, Some(Consent::Once));
    assert_eq!(admin.determining, ["admins-delete-with-approval"]);

    for text in ["my password is hunter2", "Password: hunter2", "PASSWORD=hunter2"] {
        let refused = decide(&policies, "demo__echo", &call(&[], "", json!({ "text": text })));
        assert!(!refused.allowed, "{text}");
        assert_eq!(refused.determining, ["no-passwords-in-echo"], "{text}");
    }
    assert!(decide(&policies, "demo__echo", &call(&[], "", json!({"text": "hello"}))).allowed);
    // An argument the tool's schema closes out (`additionalProperties: false`) is no policy's to
    // overlook: the call does not fit the tool.
    let extra = decide(&policies, "demo__echo", &call(&[], "", json!({"text": "hello", "also": "x"})));
    assert!(!extra.allowed, "{extra:?}");
    assert!(extra.invalid_arguments.as_deref().is_some_and(|why| why.contains("\"also\"")), "{extra:?}");

    let unknown = decide(&policies, "demo__rm_rf", &plain);
    assert!(!unknown.allowed && !unknown.errors.is_empty());
}

/// `principal.client_registration` is how the caller's client came to exist at the AS (the
/// token's `client_registration`): a policy can keep deletes to the operator's own clients.
#[test]
fn a_policy_can_tell_how_the_client_was_registered() {
    let policies = load(
        r#"@id("anyone") permit(principal, action, resource);
           @id("deletes-by-known-clients-only")
           forbid(principal, action in Gateway::Action::"destructive", resource)
           unless { principal.client_registration == "preregistered" };"#,
    );
    let delete = call(&[], "notes:write", json!({"id": 7}));
    let by = |registration| {
        let facts = CallFacts { client_registration: registration, ..delete.facts("demo__delete_note") };
        policies.decide(&facts)
    };
    assert!(by("preregistered").allowed);
    for registration in ["dynamic", "metadata_document", mcp_gateway::policy::UNKNOWN_REGISTRATION] {
        let refused = by(registration);
        assert!(!refused.allowed, "{registration}");
        assert_eq!(refused.determining, ["deletes-by-known-clients-only"], "{registration}");
    }
}

#[test]
fn tools_list_shows_what_a_call_would_not_deny_outright() {
    let policies = demo_policies();
    let nobody = call(&[], "notes:read", json!({}));
    let admin = call(&["admins"], "notes:read notes:write", json!({}));
    assert!(policies.listable(&nobody.facts("demo__list_notes")));
    assert!(policies.listable(&nobody.facts("demo__echo")), "an argument-based denial still lists the tool");
    assert!(!policies.listable(&nobody.facts("demo__delete_note")), "no permit applies to a non-admin");
    assert!(policies.listable(&admin.facts("demo__delete_note")));
    assert!(!policies.listable(&nobody.facts("demo__nope")));

    // A policy may still demand scopes of its own in `context.scopes`.
    let scoped = load(
        "permit(principal, action == Gateway::Action::\"demo__add_note\", resource)\n\
         when { context.scopes.contains(\"notes:admin\") };",
    );
    assert!(!scoped.listable(&admin.facts("demo__add_note")), "without the scope, never");
    assert!(scoped.listable(&call(&[], "notes:admin", json!({})).facts("demo__add_note")));

    let forbidden = load(
        "permit(principal, action, resource);\n\
         forbid(principal, action == Gateway::Action::\"demo__whoami\", resource);",
    );
    assert!(!forbidden.listable(&nobody.facts("demo__whoami")), "a forbid that needs no arguments hides it");

    // Only a permit that reads the arguments makes a tool that no permit lets through depend on
    // them: a forbid reading them can only deny more.
    let admins_only = load(
        "permit(principal in Gateway::Group::\"admins\", action, resource);\n\
         forbid(principal, action == Gateway::Action::\"demo__echo\", resource)\n\
         when { context.arguments.text like \"*x*\" };",
    );
    assert!(!admins_only.listable(&nobody.facts("demo__echo")), "every call of a non-admin is denied");
    assert!(admins_only.listable(&admin.facts("demo__echo")));
    let argument_permit = load(
        "permit(principal, action == Gateway::Action::\"demo__echo\", resource)\n\
         when { context.arguments.text == \"hello\" };",
    );
    assert!(
        argument_permit.listable(&nobody.facts("demo__echo")),
        "a permit reading the arguments may apply"
    );

    // An error that is not about the arguments is met by every call, and denies it: hidden.
    for text in [
        "permit(principal, action, resource) when { context.auth_time * 9223372036854775807 > 0 };",
        "permit(principal, action, resource);\n\
         forbid(principal, action, resource) when { context.auth_time * 9223372036854775807 > 0 };",
        "permit(principal, action == Gateway::Action::\"demo__echo\", resource)\n\
         when { context.arguments.text == \"x\" };\n\
         forbid(principal, action, resource) when { context.auth_time * 9223372036854775807 > 0 };",
    ] {
        let erring = load(text);
        assert!(!decide(&erring, "demo__echo", &call(&[], "", json!({"text": "x"}))).allowed, "{text}");
        assert!(!erring.listable(&nobody.facts("demo__echo")), "{text}");
    }
}

#[test]
fn a_policy_naming_an_unknown_tool_or_argument_is_refused_with_its_file_and_line() {
    let catalog = catalog();
    let unknown_tool = "permit(principal, action, resource);\n\n\
                        permit(principal, action == Gateway::Action::\"demo__rm_rf\", resource);\n";
    let refused = Policies::load("mine.cedar", unknown_tool, &catalog).unwrap_err();
    assert_eq!(refused.0.len(), 1, "{refused}");
    assert_eq!((refused.0[0].file.as_str(), refused.0[0].line), ("mine.cedar", 3), "{refused}");

    let unknown_argument = "permit(principal, action == Gateway::Action::\"demo__echo\", resource)\n\
                            when { context.arguments.txet == \"typo\" };\n";
    let refused = Policies::load("mine.cedar", unknown_argument, &catalog).unwrap_err();
    assert_eq!(refused.0[0].line, 2, "{refused}");

    let wrong_type = "permit(principal, action == Gateway::Action::\"demo__read_note\", resource)\n\
                      when { context.arguments.id == \"7\" };\n";
    assert!(Policies::load("mine.cedar", wrong_type, &catalog).is_err(), "strict typing");

    let syntax = "permit(principal, action, resource)\nwhen { context.time > };\n";
    let refused = Policies::load("mine.cedar", syntax, &catalog).unwrap_err();
    assert_eq!(refused.0[0].line, 2, "{refused}");
}

#[test]
fn a_rule_naming_a_tool_or_an_upstream_the_catalog_lacks_is_refused_with_its_file_and_line() {
    let catalog = catalog();
    let refused = |text: &str| Policies::load("mine.cedar", text, &catalog).unwrap_err();
    // A one-letter typo of the demo's team rule would open the team's tools to everyone.
    let typo = refused(
        "permit(principal, action, resource);\n\
         forbid(principal, action, resource in Gateway::Upstream::\"teams\")\n\
         unless { principal in Gateway::Group::\"team\" };\n",
    );
    assert_eq!(typo.0.len(), 1, "{typo}");
    assert_eq!((typo.0[0].file.as_str(), typo.0[0].line), ("mine.cedar", 2), "{typo}");
    assert!(typo.0[0].message.contains("unknown upstream Gateway::Upstream::\"teams\""), "{typo}");

    let scope = refused("forbid(principal, action, resource == Gateway::Tool::\"demo__delte_note\");");
    assert_eq!(scope.0[0].line, 1, "{scope}");
    assert!(scope.0[0].message.contains("unknown tool Gateway::Tool::\"demo__delte_note\""), "{scope}");
    // In a condition, in a set, among known ones, after a comment that names one: each where it
    // stands.
    let conditions = refused(
        "// Gateway::Tool::\"demo__nope\" in a comment is nothing\n\
         permit(principal, action, resource)\n\
         when { resource in [Gateway::Upstream::\"demo\",\n\
                             Gateway::Upstream::\"demox\"] };\n\
         forbid(principal, action, resource)\n\
         unless { resource == Gateway::Tool::\"demo__echo\" ||\n\
                  resource == Gateway :: Tool :: \"demo__ech\" };\n",
    );
    let lines: Vec<usize> = conditions.0.iter().map(|p| p.line).collect();
    assert_eq!(lines, [4, 7], "{conditions}");

    // The names that exist load; users and groups come from the AS and are open.
    load(
        "forbid(principal == Gateway::User::\"anyone\", action, resource in Gateway::Upstream::\"team\")\n\
         unless { principal in Gateway::Group::\"whatever\" || resource == Gateway::Tool::\"demo__echo\" };",
    );
    // A catalog without tools has no names at all.
    let empty = Catalog::default();
    for text in [
        "permit(principal, action, resource) when { resource == Gateway::Tool::\"\" };",
        "\npermit(principal, action, resource in Gateway::Upstream::\"demo\");",
    ] {
        let refused = Policies::load("empty.cedar", text, &empty).unwrap_err();
        assert_eq!(refused.0.len(), 1, "{refused}");
        assert_eq!(refused.0[0].line, text.find("permit").map(|at| text[..at].lines().count() + 1).unwrap());
    }
}

#[test]
fn a_template_is_refused_since_nothing_would_ever_link_it() {
    let refused = Policies::load(
        "mine.cedar",
        "permit(principal, action, resource);\n\nforbid(principal == ?principal, action, resource);\n",
        &catalog(),
    )
    .unwrap_err();
    assert_eq!(refused.0.len(), 1, "{refused}");
    assert_eq!(refused.0[0].line, 3, "{refused}");
    assert!(refused.0[0].message.contains("template"), "{refused}");
}

#[test]
fn two_policies_with_one_id_are_refused_since_the_audit_could_not_tell_them_apart() {
    let text = "@id(\"reads\")\npermit(principal, action in Gateway::Action::\"read\", resource);\n\
                @id(\"other\")\npermit(principal in Gateway::Group::\"admins\", action, resource);\n\
                @id(\"reads\")\nforbid(principal, action == Gateway::Action::\"demo__delete_note\", resource);\n";
    let refused = Policies::load("mine.cedar", text, &catalog()).unwrap_err();
    assert_eq!(refused.0.len(), 1, "{refused}");
    assert_eq!(refused.0[0].line, 5, "the later one: {refused}");
    assert!(refused.0[0].message.contains("@id(\"reads\")"), "{refused}");
}

#[test]
fn any_evaluation_error_is_a_deny_even_in_a_forbid() {
    // Cedar skips a policy whose evaluation errors: this forbid overflows for id ≥ 2, and would
    // let the permit through. Here it denies.
    let policies = load(
        "@id(\"anyone\") permit(principal, action, resource);\n\
         @id(\"overflow\") forbid(principal, action == Gateway::Action::\"demo__read_note\", resource)\n\
         when { context.arguments.id * 9223372036854775807 > 0 };\n",
    );
    let overflow = decide(&policies, "demo__read_note", &call(&[], "", json!({"id": 2})));
    assert!(!overflow.allowed, "{overflow:?}");
    assert!(!overflow.errors.is_empty());
    // The audit names what denied: the forbid that errored, not the permit Cedar found satisfied.
    assert_eq!(overflow.determining, ["overflow"]);
    let fine = decide(&policies, "demo__read_note", &call(&[], "", json!({"id": 0})));
    assert!(fine.allowed, "{fine:?}");
    assert_eq!(fine.determining, ["anyone"]);
    // A permit that errors where none applies: it is what denied.
    let erring_permit = load(
        "@id(\"big-ids\") permit(principal, action == Gateway::Action::\"demo__read_note\", resource)\n\
         when { context.arguments.id * 9223372036854775807 > 0 };\n",
    );
    let denied = decide(&erring_permit, "demo__read_note", &call(&[], "", json!({"id": 2})));
    assert_eq!((denied.allowed, denied.determining), (false, vec!["big-ids".to_owned()]));
    // A forbid that applies is what denied, whatever else errored.
    let both = load(
        "@id(\"no-reads\") forbid(principal, action == Gateway::Action::\"demo__read_note\", resource);\n\
         @id(\"overflow\") forbid(principal, action == Gateway::Action::\"demo__read_note\", resource)\n\
         when { context.arguments.id * 9223372036854775807 > 0 };\n\
         permit(principal, action, resource);\n",
    );
    let denied = decide(&both, "demo__read_note", &call(&[], "", json!({"id": 2})));
    assert_eq!((denied.allowed, denied.determining), (false, vec!["no-reads".to_owned()]));

    // Arguments that do not fit the tool's types, or miss a required one: denied.
    for arguments in [json!({"id": "seven"}), json!({}), json!({"id": 1.5})] {
        let denied = decide(&policies, "demo__read_note", &call(&[], "", arguments.clone()));
        assert!(!denied.allowed, "{arguments}");
    }
    // An argument the tool's schema closes out (`additionalProperties: false`, as every demo
    // tool's) is refused: the policy would not have read it.
    let extra = decide(&policies, "demo__read_note", &call(&[], "", json!({"id": 0, "extra": true})));
    assert!(!extra.allowed && extra.invalid_arguments.is_some(), "{extra:?}");
}

#[test]
fn consent_obligations_parse_and_the_strictest_wins() {
    assert_eq!(Consent::parse("once"), Some(Consent::Once));
    assert_eq!(Consent::parse("PT24H"), Some(Consent::For(Duration::from_secs(86_400))));
    assert_eq!(Consent::parse("P1DT30M"), Some(Consent::For(Duration::from_secs(86_400 + 1800))));
    for (good, seconds) in
        [("P2D", 172_800), ("PT1H30M", 5400), ("PT90S", 90), ("P1DT1H1M1S", 90_061), ("PT0H5M", 300)]
    {
        assert_eq!(Consent::parse(good), Some(Consent::For(Duration::from_secs(seconds))), "{good:?}");
    }
    for bad in [
        "",
        "P",
        "PT",
        "PT0S",
        "P0D",
        "PT0H0M",
        "24h",
        "PT1X",
        "P1H",
        "forever",
        "PT99999999999999999999H",
        "P213503982334602D",
        "P+1D",
        "PT-1H",
        "PT1H1H",
        "PT30S1H",
        "PT1M1H",
        "P1DT",
        "P1D1D",
        "PT1HT1M",
        "P1W",
        "P1Y",
        "P1M",
        "pt1h",
        "PT1.5H",
        "PT1,5H",
        " PT1H",
        "PT1H ",
        "ONCE",
        "PTH",
        "P1DT1D",
    ] {
        assert_eq!(Consent::parse(bad), None, "{bad:?}");
    }
    let policies = load(
        "@consent(\"PT24H\") permit(principal, action, resource);\n\
         @consent(\"PT1H\") permit(principal, action in Gateway::Action::\"read\", resource);\n\
         @consent(\"once\") permit(principal, action in Gateway::Action::\"destructive\", resource);\n",
    );
    assert_eq!(
        decide(&policies, "demo__list_notes", &call(&[], "", json!({}))).consent,
        Some(Consent::For(Duration::from_secs(3600)))
    );
    assert_eq!(
        decide(&policies, "demo__delete_note", &call(&[], "", json!({"id": 1}))).consent,
        Some(Consent::Once)
    );
    assert_eq!(
        decide(&policies, "demo__add_note", &call(&[], "", json!({"title": "t", "body": ""}))).consent,
        Some(Consent::For(Duration::from_secs(86_400)))
    );
}

#[test]
fn annotations_are_checked_at_load_with_their_file_and_line() {
    let permit = "permit(principal, action, resource);";
    let cases = [
        // A value only found wrong when a call came would deny every call the rule permits.
        (format!("{permit}\n@consent(\"24h\")\n{permit}"), 2, "@consent(\"24h\") is neither"),
        (format!("@consent(\"PT1H1H\") {permit}"), 1, "@consent(\"PT1H1H\") is neither"),
        (format!("@consent {permit}"), 1, "@consent(\"\") is neither"),
        // A misspelled obligation would let the call through without the approval.
        (format!("@Consent(\"once\") {permit}"), 1, "unknown annotation @Consent"),
        (format!("\n@id(\"x\")\n@consents(\"once\")\n{permit}"), 3, "unknown annotation @consents"),
        // A forbid has nothing to ask.
        ("@consent(\"once\")\nforbid(principal, action, resource);".to_owned(), 1, "on a forbid"),
    ];
    for (text, line, says) in cases {
        let refused = Policies::load("mine.cedar", &text, &catalog()).unwrap_err();
        assert_eq!(refused.0.len(), 1, "{text}: {refused}");
        let problem = &refused.0[0];
        assert_eq!((problem.file.as_str(), problem.line), ("mine.cedar", line), "{text}: {refused}");
        assert!(problem.message.contains(says), "{text}: {refused}");
    }
    let unknown = Policies::load("mine.cedar", &format!("@reason(\"x\") {permit}"), &catalog()).unwrap_err();
    assert!(unknown.0[0].message.contains("@id and @consent"), "names the known keys: {unknown}");
    // Every problem of a file at once.
    let refused =
        Policies::load("mine.cedar", &format!("@a(\"1\") {permit}\n@b(\"2\") {permit}"), &catalog())
            .unwrap_err();
    assert_eq!(refused.0.iter().map(|p| p.line).collect::<Vec<_>>(), [1, 2], "{refused}");
}

#[test]
fn policy_check_and_explain_work_offline() {
    let binary = env!("CARGO_BIN_EXE_mcp-gateway");
    let check = Command::new(binary)
        .args(["policy", "check"])
        .arg(demo("policy.cedar"))
        .arg("--catalog")
        .arg(demo("catalog.json"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("ok: 6 policies over 12 tools"));

    let broken = std::env::temp_dir().join(format!("mcp-gateway-broken-{}.cedar", std::process::id()));
    std::fs::write(&broken, "permit(principal, action, resource);\nforbid(principal, action == Gateway::Action::\"demo__gone\", resource);\n").unwrap();
    let refused = Command::new(binary)
        .args(["policy", "check"])
        .arg(&broken)
        .arg("--catalog")
        .arg(demo("catalog.json"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&broken);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&format!("{}:2:", broken.display())), "{stderr}");

    let explain = Command::new(binary)
        .args(["policy", "explain"])
        .arg(demo("policy.cedar"))
        .arg("--catalog")
        .arg(demo("catalog.json"))
        .args([
            "--user",
            "alice",
            "--group",
            "admins",
            "--tool",
            "demo__delete_note",
            "--args",
            r#"{"id": 7}"#,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&explain.stdout);
    assert!(explain.status.success(), "{}", String::from_utf8_lossy(&explain.stderr));
    assert!(stdout.contains("decision: allow"), "{stdout}");
    assert!(stdout.contains("consent: the person approves this call"), "{stdout}");
    assert!(stdout.contains("determining policies: admins-delete-with-approval"), "{stdout}");

    // The scopes are the call's, the tool's own added, as when serving.
    let scoped = std::env::temp_dir().join(format!("mcp-gateway-scoped-{}.cedar", std::process::id()));
    std::fs::write(
        &scoped,
        "permit(principal, action == Gateway::Action::\"demo__add_note\", resource)\n\
         when { context.scopes.contains(\"notes:write\") };\n",
    )
    .unwrap();
    let explain = Command::new(binary)
        .args(["policy", "explain"])
        .arg(&scoped)
        .arg("--catalog")
        .arg(demo("catalog.json"))
        .args(["--user", "alice", "--scope", "notes:read", "--tool", "demo__add_note"])
        .args(["--args", r#"{"title": "t", "body": "b"}"#])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&scoped);
    let stdout = String::from_utf8_lossy(&explain.stdout);
    assert!(explain.status.success(), "{}", String::from_utf8_lossy(&explain.stderr));
    assert!(stdout.contains("decision: allow"), "{stdout}");
    assert!(stdout.contains("listed in tools/list: true"), "{stdout}");
}

#[test]
fn tools_list_is_the_live_offered_tools_a_call_would_not_deny_outright() {
    use mcp_gateway::listing::{Asker, visible_tools};
    use std::collections::BTreeMap;

    let policies = demo_policies();
    let catalog: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo("catalog.json")).unwrap()).unwrap();
    let mut live: Vec<protocol::mcp::Tool> =
        serde_json::from_value(catalog["demo"]["tools"].clone()).unwrap();
    // The upstream now also lists a tool no policy was validated for.
    live.push(
        serde_json::from_value(json!({"name": "format_disk", "inputSchema": {"type": "object"}})).unwrap(),
    );
    let live = BTreeMap::from([("demo".to_owned(), live)]);
    let names = |groups: &[String], scopes: &[&str]| {
        let scopes = protocol::scope::Scopes::from_tokens(scopes.iter().copied()).unwrap();
        let asker = Asker {
            user: "alice",
            groups,
            client_id: "agent",
            client_registration: "dynamic",
            time: 1_700_000_000,
            client_address: "127.0.0.1",
            scopes: &scopes,
            auth_time: 0,
        };
        let (tools, skipped) = visible_tools(&policies, &live, &asker);
        assert_eq!(skipped.len(), 1, "format_disk is left out and reported");
        tools.into_iter().map(|t| t.name).collect::<Vec<_>>()
    };
    // Adding a note needs a step-up to notes:write, which the policy allows: it is listed.
    let reader = names(&[], &["notes:read"]);
    assert_eq!(
        reader,
        ["demo__add_note", "demo__echo", "demo__list_notes", "demo__read_note", "demo__whoami"]
    );
    let admin = names(&["admins".to_owned()], &["notes:read"]);
    assert_eq!(
        admin,
        [
            "demo__add_note",
            "demo__delete_note",
            "demo__echo",
            "demo__list_notes",
            "demo__read_note",
            "demo__whoami"
        ]
    );
}
