//! The sandbox helper: applies rlimits, Landlock and the seccomp filter to
//! itself, then executes the command. Started by the sandbox, never by hand.

fn main() {
    agentwerke_sandbox::helper_main()
}
