//! Agent profiles and skills as files, the way teams keep prompts in a
//! repository.
//!
//! A profile folder holds `agents/<name>.md` (YAML front matter with the
//! agent's model, limits, sandbox profiles, default tools, skills and
//! secret grants; the Markdown body is its system prompt) and
//! `skills/<name>/SKILL.md` (front matter `name` and `description`, the
//! Agent Skills convention; the body is loaded into the context of every
//! agent whose profile lists the skill).
//!
//! The design decision: a folder is taken as a whole or not at all.
//! [`load_dir`] reads every file and reports every problem at once, each
//! with its file, line and a stable code ([`Problem`]); only a folder
//! without problems becomes a [`Catalogue`]. The server keeps the last good
//! catalogue while an edit is broken ([`Reloader`]), so what is in force is
//! always a set an author could have checked.
//!
//! ```
//! use agentwerke_profiles::{Known, load_dir};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir_all(dir.path().join("agents")).unwrap();
//! std::fs::write(
//!     dir.path().join("agents/triage.md"),
//!     "---\nmodel: small\nsandbox-profiles: [offline]\nmax-turns: 4\n---\nYou sort tickets.\n",
//! )
//! .unwrap();
//! let catalogue = load_dir(dir.path(), &Known::nothing()).unwrap();
//! let triage = catalogue.get("triage").unwrap();
//! assert_eq!(triage.model.as_deref(), Some("small"));
//! assert_eq!(triage.system_prompt, "You sort tickets.");
//!
//! std::fs::write(dir.path().join("agents/triage.md"), "---\nmax-turn: 4\n---\n").unwrap();
//! let problems = load_dir(dir.path(), &Known::nothing()).unwrap_err();
//! assert!(problems.to_string().contains("triage.md:2:1: profile.unknown_field"), "{problems}");
//! ```
#![deny(missing_docs)]

mod catalogue;
mod format;
mod front;
mod known;
mod load;
mod problem;
mod watch;

pub use catalogue::{Catalogue, Profile, Skill, Source};
pub use known::Known;
pub use load::{
    AGENTS_DIR, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, MAX_TEMPERATURE, SKILL_FILE, SKILLS_DIR,
    load_dir,
};
pub use problem::{FileKind, Problem, Problems, ProfileError};
pub use watch::{Fingerprint, Reloader, load};
