//! What the runtime's benches share.

use agentwerke_gateway::tools::Document;

/// The knowledge folder every bench's gateway searches: three short
/// documents, so a `knowledge.search` call costs what a small one does.
pub(crate) fn documents() -> Vec<Document> {
    [
        (
            "runbook.md",
            "Runbook",
            "The rollback plan restores the previous release.",
        ),
        (
            "release.md",
            "Release process",
            "Releases ship on Tuesdays after review.",
        ),
        (
            "security.md",
            "Security",
            "Secrets are injected by the platform.",
        ),
    ]
    .into_iter()
    .map(|(id, title, text)| Document {
        id: id.to_owned(),
        title: title.to_owned(),
        text: text.to_owned(),
    })
    .collect()
}
