//! The `warroom` binary: install error and panic hooks first, then hand over to the CLI.

use clap::Parser;

fn main() {
    // Panics get color-eyre's report, after the console has restored the terminal.
    if let Err(e) = color_eyre::install() {
        warroom::stderr!("warroom: {e}");
    }
    let cli = warroom::cli::Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(color_eyre::Report::from)
        .and_then(|rt| rt.block_on(warroom::cli::run(cli)));
    if let Err(e) = result {
        // A user's mistake or an unreachable server is a sentence, not a backtrace.
        warroom::stderr!("warroom: {e:#}");
        std::process::exit(1);
    }
}
