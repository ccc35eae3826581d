//! The `edgebeam` binary: parse the command line, run the command, print one line on error.
#![forbid(unsafe_code)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // argh has no `--version`; operators type it anyway, and it must agree with `version`.
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("{}", edgebeam::version_report());
        return;
    }
    let cli: edgebeam::cli::args::Cli = argh::from_env();
    if let Err(e) = edgebeam::cli::run(cli) {
        eprintln!("edgebeam: error: {e}");
        std::process::exit(1);
    }
}
