//! Requests go to the provider they name, or to the default.

use std::sync::Arc;

use agentwerke_agents::provider::ModelProvider;
use agentwerke_agents::scripted::{ScriptedProvider, Turn};
use agentwerke_agents::step::StepOutcome;
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::SecretResolver;
use agentwerke_providers::fake::{FakeProvider, FakeTurn, Reply, Wire};
use agentwerke_providers::{KeyResolver, ProviderRouter, ProviderSettings, check_all};

use crate::support::{KEY, Vars, Vault, settings};

async fn ask(router: &ProviderRouter, provider: Option<&str>) -> StepOutcome {
    use agentwerke_agents::prompt::AssembledPrompt;
    use agentwerke_agents::step::{NoTools, StepInput, run_step};
    let prompt = AssembledPrompt {
        system: "s".into(),
        user: "u".into(),
        unresolved: Vec::new(),
    };
    let mut input = StepInput::new(prompt, "run-1", "work-1", "Draft", "writer");
    input.provider = provider.map(str::to_owned);
    run_step(input, router, &NoTools).await
}

fn text(outcome: &StepOutcome) -> (String, String) {
    match outcome {
        StepOutcome::Completed { output, turns, .. } => (
            output["text"].as_str().unwrap_or_default().to_owned(),
            turns[0].provider.clone(),
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn requests_go_to_the_named_provider_the_default_or_fail_with_a_stable_code() {
    let openai = FakeProvider::start(Wire::OpenAi, Some(KEY)).await;
    let anthropic = FakeProvider::start(Wire::Anthropic, Some(KEY)).await;
    openai.fallback(|_| Reply::Turn(FakeTurn::text("from openai")));
    anthropic.fallback(|_| Reply::Turn(FakeTurn::text("from anthropic")));
    let mut first = settings(Wire::OpenAi, &openai);
    first.name = "gpt".into();
    let mut second: ProviderSettings = settings(Wire::Anthropic, &anthropic);
    second.name = "claude".into();
    second.default = true;
    let specs = check_all(&[first, second]).unwrap();
    let keys = KeyResolver::new(
        Some(Vault::new(&[("MODEL_KEY", KEY)]) as Arc<dyn SecretResolver>),
        Arc::new(Vars(Vec::new())),
        Redactor::default(),
    );
    let scripted: Arc<dyn ModelProvider> =
        Arc::new(ScriptedProvider::new().with_node("Draft", vec![Turn::reply("from the script")]));
    let router = ProviderRouter::build(&specs, &keys, scripted.clone()).unwrap();

    assert_eq!(
        text(&ask(&router, None).await),
        ("from anthropic".into(), "claude".into())
    );
    assert_eq!(
        text(&ask(&router, Some("gpt")).await),
        ("from openai".into(), "gpt".into())
    );
    assert_eq!(
        text(&ask(&router, Some("scripted")).await).0,
        "from the script"
    );
    match ask(&router, Some("gemini")).await {
        StepOutcome::Failed { code, message, .. } => {
            assert_eq!(code, "model.unknown_provider");
            assert!(message.contains("gemini"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Without a default mark the first is the default; with none at all,
    // the scripted provider.
    let mut only: ProviderSettings = settings(Wire::OpenAi, &openai);
    only.name = "gpt".into();
    let router =
        ProviderRouter::build(&check_all(&[only]).unwrap(), &keys, scripted.clone()).unwrap();
    assert_eq!(text(&ask(&router, None).await).1, "gpt");
    let router = ProviderRouter::build(&[], &keys, scripted).unwrap();
    assert_eq!(text(&ask(&router, None).await).0, "from the script");
}
