//! One module per subcommand.

pub mod agent;
pub mod answer;
pub mod approval;
pub mod approve;
pub mod audit;
pub mod evidence;
pub mod run;
pub mod secret;
pub mod serve;
pub mod token;
pub mod workflow;
