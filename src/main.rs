//! `odw`: the command line. It parses flags, reads the configuration and
//! calls the engine; everything else lives in `odw-engine`.

mod cli;
mod commands;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of stdout goes away
    // (`odw logs … | head`) instead of panicking on a broken pipe.
    // SAFETY: called first, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
