//! The `warroom` binary: install error and panic hooks first, then hand over to the CLI.

use clap::Parser;

/// `warroom … | head -1`: our own lines end quietly with status 0 in `present::print_line`;
/// this catches any other writer (`println!` in `bench`, a library) whose closed stdout would
/// otherwise panic with a backtrace. Status 0, like ripgrep, rather than the shell's 141 for a
/// SIGPIPE death: the reader chose to stop reading, which is no failure of ours, and scripts
/// under `set -o pipefail` must not fail on `| head`.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.starts_with("failed printing to stdout") && payload.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info)
    }));
}

fn main() {
    // Panics get color-eyre's report, after the console has restored the terminal.
    if let Err(e) = color_eyre::install() {
        warroom::stderr!("warroom: {e}");
    }
    quiet_on_closed_stdout();
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
