//! `edgebeam doctor`: gathers the facts (test binds, file modes, the certificate, addresses,
//! the clock, limits, the database read-only) and prints [`crate::doctor`]'s verdicts.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::args::DoctorArgs;
use super::{out, CliError};
use crate::config::{Config, TlsSource};
use crate::doctor::{self, BindFailure, CertFacts, DbFacts, DirFacts, Finding};
use crate::store::{schema, Store};

pub fn run(args: DoctorArgs) -> Result<(), CliError> {
    let flags: Vec<(&'static str, &str)> = args.data_dir.as_deref().map(|d| ("data_dir", d)).into_iter().collect();
    let config = match Config::load(args.config.as_deref().map(Path::new), flags) {
        Ok(c) => c,
        Err(e) => {
            out(format_args!("✗ config: {e} — fix: correct that value"))?;
            std::process::exit(1);
        }
    };
    out(format_args!("✓ config: valid (data dir {})", config.data_dir.display()))?;
    let mut findings = Vec::new();
    if args.running {
        out(format_args!("✓ port: bind test skipped (--running)"))?;
    } else {
        findings.extend(ports(&config));
    }
    findings.extend(doctor::data_dir(&dir_facts(&config.data_dir), euid()));
    findings.extend(certificate(&config));
    let local: Vec<IpAddr> = if_addrs::get_if_addrs().map(|v| v.iter().map(|i| i.ip()).collect()).unwrap_or_default();
    findings.push(doctor::public_ip(config.public_ip, &local));
    let built = crate::BUILD_EPOCH.parse().unwrap_or(0);
    findings.push(doctor::clock(crate::unixtime::UnixTime::now().secs(), built));
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    findings.push(doctor::open_files(doctor::parse_open_file_limit(&limits)));
    findings.extend(doctor::database(&db_facts(&config.data_dir)));
    for f in &findings {
        out(format_args!("{f}"))?;
    }
    if doctor::any_fatal(&findings) {
        std::process::exit(1);
    }
    Ok(())
}

fn ports(config: &Config) -> Vec<Finding> {
    let tcp = |addr: SocketAddr| TcpListener::bind(addr).map(drop).map_err(|e| BindFailure::of(e.kind()));
    let udp = |addr: SocketAddr| UdpSocket::bind(addr).map(drop).map_err(|e| BindFailure::of(e.kind()));
    vec![
        doctor::port("signal_listen", "tcp", config.signal_listen, tcp(config.signal_listen)),
        doctor::port("admin_listen", "tcp", config.admin_listen, tcp(config.admin_listen)),
        doctor::port("turn_listen", "udp", config.turn_listen, udp(config.turn_listen)),
        doctor::port("turn_listen", "tcp", config.turn_listen, tcp(config.turn_listen)),
        doctor::port("turns_listen", "tcp", config.turns_listen, tcp(config.turns_listen)),
    ]
}

fn euid() -> u32 {
    // The owner of a file this process creates is its effective uid; /proc/self is owned by it.
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

fn dir_facts(dir: &Path) -> DirFacts {
    let owner_mode = std::fs::metadata(dir).ok().map(|m| (m.uid(), m.permissions().mode() & 0o7777));
    let secrets = [
        dir.join(crate::store::DB_FILE),
        dir.join(format!("{}-wal", crate::store::DB_FILE)),
        dir.join(crate::tls::TLS_DIR).join(crate::tls::KEY_FILE),
    ];
    let files = secrets
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p.display().to_string(), m.permissions().mode() & 0o7777)))
        .collect();
    DirFacts { path: dir.display().to_string(), owner_mode, files }
}

fn certificate(config: &Config) -> Vec<Finding> {
    let path = match &config.tls {
        TlsSource::Files { cert, .. } => {
            // The same checks serve makes: readable PEM, a key that matches. Writes nothing.
            let sans = crate::tls::SanInputs::from_system(config.public_ip, &config.public_names);
            if let Err(e) = crate::tls::load(config, &sans, crate::unixtime::UnixTime::now()) {
                return vec![fatal_cert(
                    e.to_string(),
                    "fix tls_cert/tls_key, or unset both for a self-signed certificate",
                )];
            }
            cert.clone()
        }
        TlsSource::SelfSigned => {
            let path = config.data_dir.join(crate::tls::TLS_DIR).join(crate::tls::CERT_FILE);
            if !path.exists() {
                return vec![doctor_pass_cert("self-signed; made on first start")];
            }
            path
        }
        TlsSource::Acme(_) => {
            let path = crate::tls::acme::saved_cert_path(&config.data_dir);
            if !path.exists() {
                return vec![doctor_pass_cert(
                    "ACME: no certificate obtained yet; the self-signed one is served until the first arrives (see the log)",
                )];
            }
            path
        }
    };
    match read_cert(&path) {
        Ok(facts) => {
            let names: Vec<String> = config.public_names.iter().map(|n| n.as_str().to_owned()).collect();
            doctor::certificate(&facts, crate::unixtime::UnixTime::now().secs(), &names, config.public_ip)
        }
        Err(why) => vec![fatal_cert(format!("{}: {why}", path.display()), "replace it with a valid PEM certificate")],
    }
}

fn fatal_cert(message: String, fix: &str) -> Finding {
    Finding { status: doctor::Status::Fatal, check: "certificate", message, fix: Some(fix.to_owned()) }
}

fn doctor_pass_cert(message: &str) -> Finding {
    Finding { status: doctor::Status::Pass, check: "certificate", message: message.to_owned(), fix: None }
}

fn read_cert(path: &Path) -> Result<CertFacts, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let leaf = CertificateDer::pem_slice_iter(&bytes).next().ok_or("no PEM certificate")?.map_err(|e| e.to_string())?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    let mut facts = CertFacts {
        path: path.display().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names: Vec::new(),
        ips: Vec::new(),
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        use x509_parser::extensions::GeneralName;
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => facts.dns_names.push((*d).to_owned()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        facts.ips.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        facts.ips.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(facts)
}

fn db_facts(dir: &Path) -> DbFacts {
    match Store::inspect(dir) {
        Ok(None) => DbFacts::Missing,
        Ok(Some(found)) => DbFacts::Open {
            schema: found.schema,
            supported: schema::latest_version(),
            accounts: found.accounts,
            setup_token_issued: found.setup_token_issued,
        },
        Err(e) => DbFacts::Refused(e.to_string()),
    }
}
