//! Reading a profile folder: `agents/<name>.md` and
//! `skills/<name>/SKILL.md`, every problem collected before anything is
//! returned, so one pass shows the author all of them and a half-valid
//! folder is never put in force.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Profile, Skill, Source};
use crate::format::{AgentFront, Located, SkillFront, parse};
use crate::front::split;
use crate::known::Known;
use crate::problem::{FileKind, Problem, Problems, ProfileError};

/// The folder of agent profiles inside a profile folder.
pub const AGENTS_DIR: &str = "agents";
/// The folder of skills inside a profile folder.
pub const SKILLS_DIR: &str = "skills";
/// A skill's file inside its folder.
pub const SKILL_FILE: &str = "SKILL.md";
/// The longest name an agent or skill may have.
pub const MAX_NAME_LEN: usize = 64;
/// The longest skill description (as the Agent Skills convention says).
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// The highest sampling temperature providers accept.
pub const MAX_TEMPERATURE: f32 = 2.0;

/// Loads every profile and skill under `dir`. `known` is what the server
/// has: the tools `allowed-tools` entries must match and the providers
/// `provider:` must name. All problems come back at once; the catalogue
/// only when there are none.
pub fn load_dir(dir: &Path, known: &Known) -> Result<Catalogue, Problems> {
    let mut problems = Vec::new();
    let agents_dir = dir.join(AGENTS_DIR);
    if !agents_dir.is_dir() {
        problems.push(Problem::file(
            dir,
            FileKind::Profile,
            ProfileError::Unreadable(format!("there is no `{AGENTS_DIR}/` folder in it")),
        ));
    }
    let skills = load_skills(&dir.join(SKILLS_DIR), &mut problems);
    let mut profiles = Vec::new();
    for path in entries(&agents_dir, FileKind::Profile, &mut problems) {
        let stem = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
        match (
            path.is_file(),
            path.extension().and_then(|e| e.to_str()),
            stem,
        ) {
            (true, Some("md"), Some(name)) => {
                let mut found = Vec::new();
                if let Some(profile) = load_agent(&path, &name, &skills, known, &mut found) {
                    profiles.push(profile);
                }
                problems.extend(found);
            }
            _ => problems.push(Problem::file(
                &path,
                FileKind::Profile,
                ProfileError::UnexpectedFile,
            )),
        }
    }
    match Problems::of(problems) {
        Some(problems) => Err(problems),
        None => Ok(Catalogue::from_files(profiles)),
    }
}

/// The entries of `dir` a person put there, sorted (hidden ones such as
/// `.gitkeep` are skipped); none when it does not exist.
fn entries(dir: &Path, kind: FileKind, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    let read = fs::read_dir(dir).and_then(|it| {
        it.map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
    });
    match read {
        Ok(mut paths) => {
            paths.retain(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            });
            paths.sort();
            paths
        }
        Err(error) => {
            problems.push(Problem::file(
                dir,
                kind,
                ProfileError::Unreadable(error.to_string()),
            ));
            Vec::new()
        }
    }
}

/// Every skill folder's skill, by name; a folder with problems maps to
/// `None`, so profiles listing it are not also told it does not exist.
fn load_skills(dir: &Path, problems: &mut Vec<Problem>) -> BTreeMap<String, Option<Skill>> {
    let mut skills = BTreeMap::new();
    for folder in entries(dir, FileKind::Skill, problems) {
        let name = folder
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !folder.is_dir() {
            problems.push(Problem::file(
                &folder,
                FileKind::Skill,
                ProfileError::UnexpectedFile,
            ));
            continue;
        }
        let path = folder.join(SKILL_FILE);
        let mut found = Vec::new();
        let skill = load_skill(&path, &name, &mut found);
        problems.extend(found);
        skills.insert(name, skill);
    }
    skills
}

fn load_skill(path: &Path, name: &str, problems: &mut Vec<Problem>) -> Option<Skill> {
    let problem = |error| Problem::file(path, FileKind::Skill, error);
    if !path.is_file() {
        problems.push(problem(ProfileError::MissingFile));
        return None;
    }
    if let Err(reason) = check_name(name) {
        problems.push(problem(ProfileError::InvalidName {
            name: name.to_owned(),
            reason,
        }));
    }
    let text = read(path, FileKind::Skill, problems)?;
    let parts = split(&text)
        .map_err(|error| problems.push(problem(error).at(Some(1), None)))
        .ok()?;
    let front: SkillFront = parse(&parts)
        .map_err(|located| problems.push(at(problem(located.error.clone()), &located)))
        .ok()?;
    let line = |key: &str| key_line(parts.yaml, key).map(|l| l + parts.offset);
    if front.name != name {
        problems.push(
            problem(ProfileError::NameMismatch {
                declared: front.name.clone(),
                expected: name.to_owned(),
            })
            .at(line("name"), None),
        );
    }
    let description = front.description.unwrap_or_default().trim().to_owned();
    if description.is_empty() {
        problems.push(problem(ProfileError::MissingDescription).at(Some(1), None));
    } else if description.chars().count() > MAX_DESCRIPTION_LEN {
        problems.push(
            problem(ProfileError::InvalidField(format!(
                "description is longer than {MAX_DESCRIPTION_LEN} characters"
            )))
            .at(line("description"), None),
        );
    }
    problems.is_empty().then(|| Skill {
        name: name.to_owned(),
        description,
        body: parts.body.trim().to_owned(),
        path: path.to_owned(),
    })
}

fn load_agent(
    path: &Path,
    name: &str,
    skills: &BTreeMap<String, Option<Skill>>,
    known: &Known,
    problems: &mut Vec<Problem>,
) -> Option<Profile> {
    let problem = |error| Problem::file(path, FileKind::Profile, error);
    if let Err(reason) = check_name(name) {
        problems.push(problem(ProfileError::InvalidName {
            name: name.to_owned(),
            reason,
        }));
    }
    let text = read(path, FileKind::Profile, problems)?;
    let parts = split(&text)
        .map_err(|error| problems.push(problem(error).at(Some(1), None)))
        .ok()?;
    let front: AgentFront = parse(&parts)
        .map_err(|located| problems.push(at(problem(located.error.clone()), &located)))
        .ok()?;
    let line = |key: &str| key_line(parts.yaml, key).map(|l| l + parts.offset);
    let entry_line = |key: &str, value: &str| {
        entry_line(parts.yaml, key, value)
            .map(|l| l + parts.offset)
            .or_else(|| line(key))
    };
    if let Some(declared) = &front.name
        && declared != name
    {
        problems.push(
            problem(ProfileError::NameMismatch {
                declared: declared.clone(),
                expected: name.to_owned(),
            })
            .at(line("name"), None),
        );
    }
    if let Some(t) = front.temperature
        && !(0.0..=MAX_TEMPERATURE).contains(&t)
    {
        problems.push(
            problem(ProfileError::InvalidField(format!(
                "temperature {t} is outside 0 to {MAX_TEMPERATURE}"
            )))
            .at(line("temperature"), None),
        );
    }
    if front.max_turns == Some(0) {
        problems.push(
            problem(ProfileError::InvalidField(
                "max-turns must be at least 1".to_owned(),
            ))
            .at(line("max-turns"), None),
        );
    }
    for (key, value) in [("provider", &front.provider), ("model", &front.model)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            problems.push(
                problem(ProfileError::InvalidField(format!(
                    "{key} is empty; leave it out for the default"
                )))
                .at(line(key), None),
            );
        }
    }
    if let (Some(names), Some(provider)) = (&known.providers, &front.provider)
        && !provider.trim().is_empty()
        && !names.contains(provider)
    {
        problems.push(
            problem(ProfileError::UnknownProvider {
                name: provider.clone(),
                known: names.iter().cloned().collect::<Vec<_>>().join(", "),
            })
            .at(line("provider"), None),
        );
    }
    if let Some(known) = &known.tools {
        for tool in &front.allowed_tools {
            if !known.matches_pattern(tool) {
                problems.push(
                    problem(ProfileError::UnknownTool(tool.clone()))
                        .at(entry_line("allowed-tools", tool), None),
                );
            }
        }
    }
    let mut listed = Vec::new();
    for skill in &front.skills {
        match skills.get(skill) {
            Some(Some(found)) => listed.push(found.clone()),
            // Its own problems are reported at its file.
            Some(None) => {}
            None => problems.push(
                problem(ProfileError::UnknownSkill(skill.clone()))
                    .at(entry_line("skills", skill), None),
            ),
        }
    }
    problems.is_empty().then(|| Profile {
        name: name.to_owned(),
        source: Source::File(path.to_owned()),
        description: front.description,
        provider: front.provider,
        model: front.model,
        temperature: front.temperature,
        max_turns: front.max_turns,
        budgets: front.budgets,
        sandbox_profiles: front.sandbox_profiles.into_iter().collect(),
        allowed_tools: front.allowed_tools,
        secrets: front.secrets.into_iter().collect(),
        skills: listed,
        system_prompt: parts.body.trim().to_owned(),
    })
}

fn read(path: &Path, kind: FileKind, problems: &mut Vec<Problem>) -> Option<String> {
    fs::read_to_string(path)
        .map_err(|error| {
            problems.push(Problem::file(
                path,
                kind,
                ProfileError::Unreadable(error.to_string()),
            ));
        })
        .ok()
}

fn at(problem: Problem, located: &Located) -> Problem {
    problem.at(located.line, located.column)
}

/// Agent and skill names: a lowercase ASCII letter or digit, then
/// lowercase letters, digits, `-` and `_`; at most [`MAX_NAME_LEN`]. They
/// are file and folder names, BPMN attributes and log fields, so nothing
/// that could walk out of a folder or need quoting.
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err("it is empty"),
        Some(b) if !(b.is_ascii_lowercase() || b.is_ascii_digit()) => {
            return Err("it must start with a lowercase ASCII letter or digit");
        }
        Some(_) => {}
    }
    if name.len() > MAX_NAME_LEN {
        return Err("it is longer than 64 characters");
    }
    if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        return Err("only lowercase ASCII letters, digits, '-' and '_' are allowed");
    }
    Ok(())
}

/// The 1-based line of `yaml` where the top-level `key:` is written.
fn key_line(yaml: &str, key: &str) -> Option<usize> {
    yaml.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// The 1-based line of the list entry `value` under the top-level `key`,
/// as a block item (`- value`) or in a flow list on the key's line.
fn entry_line(yaml: &str, key: &str, value: &str) -> Option<usize> {
    let start = key_line(yaml, key)?;
    let same_line = yaml.lines().nth(start - 1)?;
    if same_line.contains(value) {
        return Some(start);
    }
    yaml.lines()
        .enumerate()
        .skip(start)
        .take_while(|(_, l)| l.starts_with([' ', '-', '\t']) || l.trim().is_empty())
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix('-')
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == value)
        })
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
