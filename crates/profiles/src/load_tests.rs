use std::path::Path;

use agentwerke_agents::budget::{Budget, OnExceed};
use agentwerke_bpmn::KnownTools;
use agentwerke_gateway::{AgentProfile, SandboxProfile};
use agentwerke_types::ErrorCode;

use super::*;
use crate::watch::{Fingerprint, Reloader};

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const REVIEWER: &str = "---
description: Reviews changes
provider: local
model: llama3.1:8b
temperature: 0.2
max-turns: 6
budgets:
  step: {tokens: 20000}
  run: {cost-usd: 1.5}
  on-exceed: escalate
sandbox-profiles: [offline, repo-read]
allowed-tools:
  - artifact.read
  - knowledge.*
skills: [style-guide]
secrets: [github_token]
---

You review changes for a team.
Be brief.
";

const STYLE: &str = "---
name: style-guide
description: The team's writing rules; use when reviewing prose.
license: Apache-2.0
---
Use short sentences.
";

fn known() -> Known {
    Known::nothing()
        .with_tools(KnownTools::new([
            "artifact.read",
            "artifact.write",
            "knowledge.search",
        ]))
        .with_providers(["scripted", "local"])
}

/// Each problem as `file-name:line: code`, the part an author acts on.
fn found(dir: &Path) -> Vec<String> {
    let problems = load_dir(dir, &known()).unwrap_err();
    problems
        .iter()
        .map(|p| {
            let file = p.file.strip_prefix(dir).unwrap().display().to_string();
            match p.line {
                Some(line) => format!("{file}:{line}: {}", p.code()),
                None => format!("{file}: {}", p.code()),
            }
        })
        .collect()
}

#[test]
fn a_good_folder_loads_every_field() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "agents/reviewer.md", REVIEWER);
    write(dir.path(), "agents/.gitkeep", "");
    write(dir.path(), "skills/style-guide/SKILL.md", STYLE);
    let catalogue = load_dir(dir.path(), &known()).unwrap();
    assert_eq!(catalogue.len(), 1);
    let reviewer = catalogue.get("reviewer").unwrap();
    assert_eq!(
        reviewer.source,
        Source::File(dir.path().join("agents/reviewer.md"))
    );
    assert_eq!(reviewer.description.as_deref(), Some("Reviews changes"));
    assert_eq!(reviewer.provider.as_deref(), Some("local"));
    assert_eq!(reviewer.model.as_deref(), Some("llama3.1:8b"));
    assert_eq!(reviewer.temperature, Some(0.2));
    assert_eq!(reviewer.max_turns, Some(6));
    assert_eq!(
        reviewer.budgets.step,
        Budget {
            tokens: Some(20000),
            cost_usd: None
        }
    );
    assert_eq!(reviewer.budgets.run.cost_usd, Some(1.5));
    assert_eq!(reviewer.budgets.on_exceed, OnExceed::Escalate);
    assert_eq!(
        reviewer
            .sandbox_profiles
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [SandboxProfile::Offline, SandboxProfile::RepoRead]
    );
    assert_eq!(reviewer.allowed_tools, ["artifact.read", "knowledge.*"]);
    assert_eq!(
        reviewer
            .secrets
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["github_token"]
    );
    assert_eq!(
        reviewer.system_prompt,
        "You review changes for a team.\nBe brief."
    );
    assert_eq!(reviewer.skills.len(), 1);
    let skill = &reviewer.skills[0];
    assert_eq!(skill.name, "style-guide");
    assert_eq!(
        skill.description,
        "The team's writing rules; use when reviewing prose."
    );
    assert_eq!(skill.body, "Use short sentences.");
    let gateway = reviewer.gateway_profile();
    assert_eq!(gateway.name, "reviewer");
    assert_eq!(gateway.secrets.len(), 1);
    assert_eq!(
        reviewer.system_prompt_sha256(),
        agentwerke_evidence::canonical::sha256_hex(reviewer.system_prompt.as_bytes())
    );
}

#[test]
fn every_problem_is_reported_at_once_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "agents/good.md", REVIEWER);
    write(d, "skills/style-guide/SKILL.md", STYLE);
    write(d, "agents/plain.md", "# No front matter\n");
    write(d, "agents/open.md", "---\nsandbox-profiles: []\n");
    write(
        d,
        "agents/typo.md",
        "---\nsandbox-profiles: [offline]\nmax-turn: 3\n---\nbody\n",
    );
    write(
        d,
        "agents/broken-yaml.md",
        "---\nsandbox-profiles: [offline]\nmodel: [unclosed\n---\n",
    );
    write(
        d,
        "agents/bad-value.md",
        "---\nsandbox-profiles: [offline]\n\ntemperature: hot\n---\n",
    );
    write(d, "agents/no-sandbox.md", "---\nmodel: m\n---\n");
    write(
        d,
        "agents/elsewhere.md",
        "---\nsandbox-profiles: [offline]\nprovider: nowhere\n---\n",
    );
    write(
        d,
        "agents/mismatch.md",
        "---\nname: other\nsandbox-profiles: [offline]\ntemperature: 3\nmax-turns: 0\n---\n",
    );
    write(
        d,
        "agents/skills.md",
        "---\nsandbox-profiles: [offline]\nskills:\n  - style-guide\n  - missing-skill\n  - broken-skill\nallowed-tools: [artifact.read, shell.run]\n---\n",
    );
    write(
        d,
        "agents/Upper.md",
        "---\nsandbox-profiles: [offline]\n---\n",
    );
    write(d, "agents/notes.txt", "not a profile");
    write(
        d,
        "skills/broken-skill/SKILL.md",
        "---\nname: broken-skill\n---\n",
    );
    write(
        d,
        "skills/renamed/SKILL.md",
        "---\nname: something-else\ndescription: d\nallowed-tools: Bash\n---\n",
    );
    write(
        d,
        "skills/wrong-name/SKILL.md",
        "---\nname: wrong\ndescription: d\n---\n",
    );
    write(d, "skills/empty/README.md", "");
    write(d, "skills/loose.md", "");

    assert_eq!(
        found(d),
        [
            "agents/Upper.md: profile.invalid_name",
            "agents/bad-value.md:4: profile.invalid_field",
            "agents/broken-yaml.md:4: profile.invalid_yaml",
            "agents/elsewhere.md:3: profile.unknown_provider",
            "agents/mismatch.md:2: profile.name_mismatch",
            "agents/mismatch.md:4: profile.invalid_field",
            "agents/mismatch.md:5: profile.invalid_field",
            "agents/no-sandbox.md:2: profile.invalid_field",
            "agents/notes.txt: profile.unexpected_file",
            "agents/open.md:1: profile.unterminated_front_matter",
            "agents/plain.md:1: profile.no_front_matter",
            "agents/skills.md:5: profile.unknown_skill",
            "agents/skills.md:7: profile.unknown_tool",
            "agents/typo.md:3: profile.unknown_field",
            "skills/broken-skill/SKILL.md:1: skill.missing_description",
            "skills/empty/SKILL.md: skill.missing_file",
            "skills/loose.md: skill.unexpected_file",
            "skills/renamed/SKILL.md:4: skill.unknown_field",
            "skills/wrong-name/SKILL.md:2: skill.name_mismatch",
        ]
        .map(str::to_owned)
    );
}

#[test]
fn problems_print_as_file_line_column_code_and_message() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "agents/typo.md",
        "---\nsandbox-profiles: [offline]\nmax-turn: 3\n---\n",
    );
    let problems = load_dir(dir.path(), &Known::nothing()).unwrap_err();
    let text = problems.to_string();
    let file = dir.path().join("agents/typo.md");
    assert!(
        text.contains(&format!(
            "{}:3:1: profile.unknown_field: unknown field `max-turn`",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.starts_with("1 problem in the agent profiles:"),
        "{text}"
    );
    assert!(
        !text.contains("at line"),
        "the parser's own position is dropped: {text}"
    );
}

#[test]
fn a_folder_without_agents_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let problems = load_dir(&dir.path().join("missing"), &Known::nothing()).unwrap_err();
    assert_eq!(problems.iter().next().unwrap().code(), "profile.unreadable");
}

#[test]
fn the_same_agent_in_config_and_a_file_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "agents/reviewer.md", REVIEWER);
    write(dir.path(), "skills/style-guide/SKILL.md", STYLE);
    let config = [
        AgentProfile::new("reviewer", [SandboxProfile::Offline]),
        AgentProfile::new("analyst", [SandboxProfile::Offline]),
    ];
    let problems = crate::load(dir.path(), &Known::nothing(), &config).unwrap_err();
    let problem = problems.iter().next().unwrap();
    assert_eq!(problem.code(), "profile.duplicate_name");
    assert_eq!(problem.file, dir.path().join("agents/reviewer.md"));
    assert!(problem.to_string().contains("[[agents]]"), "{problem}");

    let catalogue = crate::load(dir.path(), &Known::nothing(), &config[1..]).unwrap();
    let names: Vec<&str> = catalogue.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["analyst", "reviewer"]);
    assert_eq!(catalogue.get("analyst").unwrap().source, Source::Config);
    assert_eq!(catalogue.gateway_profiles().len(), 2);
}

#[test]
fn the_reloader_sees_edits_and_reports_broken_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "agents/reviewer.md", REVIEWER);
    write(dir.path(), "skills/style-guide/SKILL.md", STYLE);
    let mut reloader = Reloader::new(
        dir.path(),
        Known::nothing(),
        Vec::new(),
        Fingerprint::of(dir.path()),
    );
    assert!(reloader.poll().is_none(), "nothing changed");

    write(
        dir.path(),
        "agents/reviewer.md",
        &REVIEWER.replace("max-turns: 6", "max-turns: 12"),
    );
    let catalogue = reloader.poll().unwrap().unwrap();
    assert_eq!(catalogue.get("reviewer").unwrap().max_turns, Some(12));
    assert!(reloader.poll().is_none(), "seen once");

    // A skill edit is a change of the profiles that list it.
    write(
        dir.path(),
        "skills/style-guide/SKILL.md",
        &STYLE.replace("short", "very short"),
    );
    let catalogue = reloader.poll().unwrap().unwrap();
    assert_eq!(
        catalogue.get("reviewer").unwrap().skills[0].body,
        "Use very short sentences."
    );

    write(
        dir.path(),
        "agents/second.md",
        "---\nsandbox-profiles: [nowhere]\n---\n",
    );
    let problems = reloader.poll().unwrap().unwrap_err();
    assert_eq!(
        problems.iter().next().unwrap().code(),
        "profile.invalid_field"
    );

    fs::remove_file(dir.path().join("agents/second.md")).unwrap();
    assert!(reloader.poll().unwrap().is_ok());
}
