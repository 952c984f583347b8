//! `odw`: the command line. It parses flags, reads the configuration and
//! calls the engine; everything else lives in `odw-engine`.

mod cli;
mod commands;
mod report;

use std::process::ExitCode;

use clap::Parser;

/// Like other Unix tools, end quietly when the reader of stdout goes away
/// (`odw logs … | head`) instead of printing a panic. SIGPIPE itself stays
/// ignored (Rust's default): odw writes prompts into agents' stdin, and an
/// agent that exits without reading must not kill odw.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report::fatal(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(commands::execute(cli)) {
        Ok(code) => code,
        Err(e) => report::fatal(&e),
    }
}
