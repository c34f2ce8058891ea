//! The profile folder as `serve` and `check` use it: loaded with the
//! configuration's `[[agents]]`, every problem printed, and, while
//! serving, reloaded when it changes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentwerke_agents::budget::Budgets;
use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_profiles::{Catalogue, Fingerprint, Known, Problems, Reloader};
use agentwerke_runtime::GatewayService;
use agentwerke_runtime::gateway::builtin_tools;
use agentwerke_types::ErrorCode;
use anyhow::Context;

use crate::config::Config;

/// How often the folder is looked at for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The agent profiles in force at start, and the reloader that keeps them
/// current when there is a folder.
pub fn load(config: &Config) -> anyhow::Result<(Catalogue, Option<Reloader>)> {
    let Some(dir) = &config.profiles_dir else {
        let catalogue = Catalogue::from_config(&config.agents).with_budgets(&config.budgets);
        return Ok((catalogue, None));
    };
    let known = Known::nothing()
        .with_tools(builtin_tools().context("cannot list the built-in tools")?)
        .with_providers(provider_names(config));
    // Looked at before loading: an edit made while loading is seen later.
    let seen = Fingerprint::of(dir);
    let catalogue = agentwerke_profiles::load(dir, &known, &config.agents)
        .map_err(|problems| refused(dir, problems))?
        .with_budgets(&config.budgets);
    let reloader = Reloader::new(dir, known, config.agents.clone(), seen);
    Ok((catalogue, Some(reloader)))
}

/// The names a profile's `provider:` may use: the configured
/// `[[providers]]` and `scripted`, which the server always has.
fn provider_names(config: &Config) -> Vec<String> {
    config
        .providers
        .iter()
        .map(|spec| spec.name.clone())
        .chain([ScriptedProvider::NAME.to_owned()])
        .collect()
}

/// Every problem, one per line, as the error that stops `serve` and `check`.
fn refused(dir: &Path, problems: Problems) -> anyhow::Error {
    anyhow::Error::new(problems).context(format!(
        "the agent profiles in {} have problems; nothing was loaded",
        dir.display()
    ))
}

/// Puts each good reload in force; a broken one is logged, problem by
/// problem, and the last good profiles stay.
pub fn keep_reloading(
    mut reloader: Reloader,
    gateway: Arc<GatewayService>,
    budgets: BTreeMap<String, Budgets>,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RELOAD_INTERVAL);
        loop {
            every.tick().await;
            let Ok((back, polled)) = tokio::task::spawn_blocking(move || {
                let polled = reloader.poll();
                (reloader, polled)
            })
            .await
            else {
                tracing::error!("the agent profile reloader stopped");
                return;
            };
            reloader = back;
            match polled {
                None => {}
                Some(Ok(catalogue)) => {
                    tracing::info!(agents = catalogue.len(), "agent profiles reloaded");
                    gateway.install_profiles(catalogue.with_budgets(&budgets));
                }
                Some(Err(problems)) => {
                    for problem in problems.iter() {
                        tracing::error!(
                            file = %problem.file.display(),
                            line = problem.line,
                            code = problem.code(),
                            "{problem}"
                        );
                    }
                    tracing::warn!(
                        problems = problems.len(),
                        "the edited agent profiles have problems; the last good ones stay in force"
                    );
                }
            }
        }
    });
}
