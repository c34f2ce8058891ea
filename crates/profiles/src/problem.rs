//! What can be wrong with a profile folder, each with the file, the line
//! and a stable code, so an author fixes every problem in one pass.

use std::fmt;
use std::path::PathBuf;

use agentwerke_types::ErrorCode;

/// Which kind of file a problem is in: it decides the code's prefix
/// (`profile.` or `skill.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `agents/<name>.md`, the folder itself, or the configuration's
    /// `[[agents]]`.
    Profile,
    /// `skills/<name>/SKILL.md`.
    Skill,
}

/// One thing wrong with one file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// The file or folder cannot be read.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// The file does not open with a `---` line.
    #[error("the file must open with a `---` line, the YAML front matter, and another `---` line")]
    NoFrontMatter,
    /// The front matter has no closing `---` line.
    #[error("the front matter has no closing `---` line")]
    UnterminatedFrontMatter,
    /// The front matter is not YAML.
    #[error("the front matter is not valid YAML: {0}")]
    InvalidYaml(String),
    /// A key the format does not have (a typo, most often).
    #[error("{0}")]
    UnknownField(String),
    /// A key with a value of the wrong shape, or a required key missing.
    #[error("{0}")]
    InvalidField(String),
    /// A name that is not a safe identifier.
    #[error("`{name}` is not a valid name: {reason}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `name:` says something other than the file (or folder) name.
    #[error("`name: {declared}` does not match the name `{expected}` the path gives")]
    NameMismatch {
        /// What the front matter says.
        declared: String,
        /// What the path says.
        expected: String,
    },
    /// Two definitions of one agent.
    #[error("the agent `{name}` is defined twice: {other}")]
    DuplicateName {
        /// The agent.
        name: String,
        /// Where the other definition is.
        other: String,
    },
    /// A profile lists a skill the folder does not have.
    #[error("the skill `{0}` is not in the skills folder (skills/{0}/SKILL.md)")]
    UnknownSkill(String),
    /// A profile's `allowed-tools` entry matches no tool this server has.
    #[error("`{0}` in allowed-tools matches no tool this server has")]
    UnknownTool(String),
    /// `provider:` names no configured model provider.
    #[error(
        "no model provider named `{name}` is configured (known: {known}); add it to [[providers]] or fix the name"
    )]
    UnknownProvider {
        /// The name as written.
        name: String,
        /// The configured names, comma-separated.
        known: String,
    },
    /// A skill without a `description`, which is what tells the model when
    /// to use it.
    #[error("the skill has no description; `description:` says what it does and when to use it")]
    MissingDescription,
    /// A skill folder without its `SKILL.md`.
    #[error("the skill folder has no SKILL.md")]
    MissingFile,
    /// Something in `agents/` or `skills/` that is neither a profile nor a
    /// skill folder.
    #[error(
        "not a profile or skill: `agents/` holds `<name>.md` files, `skills/` holds `<name>/SKILL.md` folders"
    )]
    UnexpectedFile,
}

/// A [`ProfileError`] where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file or folder.
    pub file: PathBuf,
    /// 1-based line in `file`, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Which kind of file it is.
    pub kind: FileKind,
    /// What is wrong.
    pub error: ProfileError,
}

impl Problem {
    /// A problem with a whole file.
    pub(crate) fn file(file: impl Into<PathBuf>, kind: FileKind, error: ProfileError) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            kind,
            error,
        }
    }

    /// The same problem at `line` (and `column`).
    #[must_use]
    pub(crate) fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }
}

impl ErrorCode for Problem {
    fn code(&self) -> &'static str {
        use FileKind::{Profile, Skill};
        use ProfileError as E;
        match (self.kind, &self.error) {
            (Profile, E::Unreadable(_)) => "profile.unreadable",
            (Skill, E::Unreadable(_)) => "skill.unreadable",
            (Profile, E::NoFrontMatter) => "profile.no_front_matter",
            (Skill, E::NoFrontMatter) => "skill.no_front_matter",
            (Profile, E::UnterminatedFrontMatter) => "profile.unterminated_front_matter",
            (Skill, E::UnterminatedFrontMatter) => "skill.unterminated_front_matter",
            (Profile, E::InvalidYaml(_)) => "profile.invalid_yaml",
            (Skill, E::InvalidYaml(_)) => "skill.invalid_yaml",
            (Profile, E::UnknownField(_)) => "profile.unknown_field",
            (Skill, E::UnknownField(_)) => "skill.unknown_field",
            (Profile, E::InvalidField(_)) => "profile.invalid_field",
            (Skill, E::InvalidField(_)) => "skill.invalid_field",
            (Profile, E::InvalidName { .. }) => "profile.invalid_name",
            (Skill, E::InvalidName { .. }) => "skill.invalid_name",
            (Profile, E::NameMismatch { .. }) => "profile.name_mismatch",
            (Skill, E::NameMismatch { .. }) => "skill.name_mismatch",
            (_, E::DuplicateName { .. }) => "profile.duplicate_name",
            (_, E::UnknownSkill(_)) => "profile.unknown_skill",
            (_, E::UnknownTool(_)) => "profile.unknown_tool",
            (_, E::UnknownProvider { .. }) => "profile.unknown_provider",
            (_, E::MissingDescription) => "skill.missing_description",
            (_, E::MissingFile) => "skill.missing_file",
            (Profile, E::UnexpectedFile) => "profile.unexpected_file",
            (Skill, E::UnexpectedFile) => "skill.unexpected_file",
        }
    }
}

impl fmt::Display for Problem {
    /// `file:line:column: code: message`, the shape editors and CI logs
    /// link to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}: {}", self.code(), self.error)
    }
}

/// Every problem found, in file and line order; never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// `problems`, sorted; `None` when there are none.
    pub(crate) fn of(mut problems: Vec<Problem>) -> Option<Self> {
        problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        (!problems.is_empty()).then_some(Self(problems))
    }

    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: there is at least one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} problem{} in the agent profiles:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl ErrorCode for Problems {
    /// The first problem's code.
    fn code(&self) -> &'static str {
        self.0.first().map_or("profile.invalid", Problem::code)
    }
}
