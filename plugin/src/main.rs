//! The `myplugin` executable: lightningd runs it; people normally don't.

use std::io::IsTerminal;
use std::process::ExitCode;

use myplugin::protocol::{self, stdio};
use myplugin::MyPlugin;

const USAGE: &str = "\
myplugin is a Core Lightning plugin: lightningd runs it and talks to it over
stdin/stdout. Start it on a running node with

    lightning-cli -k plugin subcommand=start plugin=/absolute/path/to/myplugin foo_opt=BAR

then call it with `lightning-cli myplugin [param...]`.";

fn main() -> ExitCode {
    // lightningd may pass flags such as --developer; only these are ours.
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        println!("myplugin {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if std::io::stdin().is_terminal() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }

    // One thread is plenty for a few pipes and a socket, and starts fastest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    let result = runtime.block_on(async {
        let (input, output) = (stdio::input(), stdio::output());
        protocol::serve(MyPlugin::from_env(), input, output).await
    });
    // If stdin is not a pipe, tokio's fallback reader sits in a blocking
    // read that cannot be cancelled; don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("myplugin: lost the pipe to lightningd: {err}");
            ExitCode::FAILURE
        }
    }
}
