//! Command-line options: the benchmark's own, or the small smoke run of `cargo test --benches`.

#[derive(Clone, Copy, PartialEq)]
pub enum Side {
    Edgebeam,
    Coturn,
    /// The least a relay can do for the own generator's load (`floor.rs`); `--floor`.
    Floor,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Generator {
    Uclient,
    Own,
}

pub struct Opts {
    pub generators: Vec<Generator>,
    /// uclient's `-m`, or the own generator's allocations in all.
    pub clients: u32,
    pub messages: u32,
    pub len: u32,
    pub interval_ms: u32,
    pub transport: String,
    pub allocations: u32,
    pub sides: Vec<Side>,
    /// Own generator: client threads, aggregate packets/s, seconds of load, and whether to sweep.
    pub threads: u32,
    pub rate: u64,
    pub secs: f64,
    pub sweep: bool,
    /// Rounds of the uclient comparison (edgebeam, then coturn, each round).
    pub repeat: usize,
}

pub fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: u32| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let only = match value("--only").as_deref() {
        Some("coturn") => Some(vec![Side::Coturn]),
        Some("edgebeam") => Some(vec![Side::Edgebeam]),
        Some("floor") => Some(vec![Side::Floor]),
        Some(other) => panic!("--only coturn|edgebeam|floor, not {other}"),
        None => None,
    };
    let generator = match value("--generator").as_deref() {
        Some("own") => Some(Generator::Own),
        Some("uclient") => Some(Generator::Uclient),
        Some(other) => panic!("--generator uclient|own, not {other}"),
        None => None,
    };
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: a smoke run, against coturn only until edgebeam's TURN server is
        // in (`cargo test --bench turn_load -- --only edgebeam` runs it against edgebeam).
        // Each generator in turn unless one is named; the own one for 1 s at 2,000 packets/s.
        return Opts {
            generators: generator.map_or(vec![Generator::Uclient, Generator::Own], |g| vec![g]),
            clients: 4,
            messages: 20,
            len: 100,
            interval_ms: 5,
            transport: "udp".into(),
            allocations: 50,
            sides: only.unwrap_or(vec![Side::Coturn]),
            threads: 2,
            rate: 2000,
            secs: 1.0,
            sweep: false,
            repeat: 1,
        };
    }
    let transport = value("--transport").unwrap_or_else(|| "udp".into());
    assert!(["udp", "tcp", "tls"].contains(&transport.as_str()), "--transport udp|tcp|tls");
    let generator = generator.unwrap_or(Generator::Uclient);
    let threads = num("--threads", 4).clamp(1, 64);
    let clients = match generator {
        Generator::Uclient => num("--clients", 50).clamp(1, 400),
        Generator::Own => num("--clients", 100).clamp(threads, 4000),
    };
    Opts {
        generators: vec![generator],
        clients,
        messages: num("--messages", 2000),
        len: num("--len", 160).clamp(if generator == Generator::Own { 16 } else { 4 }, 1400),
        interval_ms: num("--interval-ms", 1),
        transport,
        allocations: num("--allocations", 1000).clamp(1, 5000),
        sides: only.unwrap_or_else(|| {
            let floor = args.iter().any(|a| a == "--floor");
            assert!(!floor || generator == Generator::Own, "--floor needs --generator own");
            let mut sides = vec![Side::Edgebeam, Side::Coturn];
            sides.extend(floor.then_some(Side::Floor));
            sides
        }),
        threads,
        rate: value("--rate").and_then(|v| v.parse().ok()).unwrap_or(20000).max(1),
        secs: value("--secs").and_then(|v| v.parse().ok()).unwrap_or(10.0f64).max(0.1),
        sweep: args.iter().any(|a| a == "--sweep"),
        repeat: num("--repeat", 1).clamp(1, 20) as usize,
    }
}
