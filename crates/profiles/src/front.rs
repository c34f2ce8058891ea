//! Splitting a Markdown file into its YAML front matter and its body.
//!
//! A dozen lines of our own rather than a crate: the convention is just a
//! `---` line, the YAML, another `---` line, and the body. What matters
//! beyond the split is the line the YAML starts on, so an error the YAML
//! parser reports can be given as a line of the file.

use crate::problem::ProfileError;

/// A file taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The YAML between the two `---` lines.
    pub yaml: &'a str,
    /// Everything after the closing `---` line.
    pub body: &'a str,
    /// Lines before the YAML (the opening `---`): a line `n` of the YAML is
    /// line `n + offset` of the file.
    pub offset: usize,
}

/// Splits `text`, which must open with a `---` line (a byte-order mark
/// before it is ignored) and close the front matter with another.
pub(crate) fn split(text: &str) -> Result<Split<'_>, ProfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let opening = lines.next().ok_or(ProfileError::NoFrontMatter)?;
    if opening.trim_end() != "---" {
        return Err(ProfileError::NoFrontMatter);
    }
    let start = opening.len();
    let mut end = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Ok(Split {
                yaml: &text[start..end],
                body: &text[end + line.len()..],
                offset: 1,
            });
        }
        end += line.len();
    }
    Err(ProfileError::UnterminatedFrontMatter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_front_matter_from_body() {
        let split = split("---\nname: a\n---\n# Hello\n").unwrap();
        assert_eq!(split.yaml, "name: a\n");
        assert_eq!(split.body, "# Hello\n");
        assert_eq!(split.offset, 1);
        let crlf = super::split("\u{feff}---\r\nname: a\r\n---\r\nbody").unwrap();
        assert_eq!(crlf.yaml, "name: a\r\n");
        assert_eq!(crlf.body, "body");
        assert_eq!(super::split("---\n---\n").unwrap().yaml, "");
    }

    #[test]
    fn refuses_files_without_a_closed_block() {
        assert_eq!(split("# Hello\n"), Err(ProfileError::NoFrontMatter));
        assert_eq!(split(""), Err(ProfileError::NoFrontMatter));
        assert_eq!(
            split("--- \nname: a\n"),
            Err(ProfileError::UnterminatedFrontMatter)
        );
        assert_eq!(
            split("---\nname: a\n----\n"),
            Err(ProfileError::UnterminatedFrontMatter)
        );
    }
}
