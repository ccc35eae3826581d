//! The self-signed certificate of first run. Its SANs cover every name a LAN client may use:
//! `localhost`, the host name, every local interface address, `public_ip` and `public_names`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType};

use super::TlsError;
use crate::config::DnsName;
use crate::unixtime::UnixTime;

/// What the SAN list is built from; gathered by the shell, so building it stays pure.
#[derive(Debug, Clone, Default)]
pub struct SanInputs {
    pub host_name: Option<String>,
    pub interface_addrs: Vec<IpAddr>,
    pub public_ip: Option<IpAddr>,
    pub public_names: Vec<DnsName>,
}

impl SanInputs {
    /// Reads the host name and the interface addresses of this machine.
    pub fn from_system(public_ip: Option<IpAddr>, public_names: &[DnsName]) -> Self {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_owned());
        let interface_addrs = match if_addrs::get_if_addrs() {
            Ok(ifs) => ifs.into_iter().map(|i| i.ip()).collect(),
            Err(e) => {
                log::warn!("cannot list network interfaces for the certificate: {e}");
                Vec::new()
            }
        };
        SanInputs { host_name, interface_addrs, public_ip, public_names: public_names.to_vec() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

/// The sorted, de-duplicated SAN list.
pub fn collect_sans(inputs: &SanInputs) -> Vec<San> {
    let mut set = BTreeSet::new();
    set.insert(San::Dns("localhost".into()));
    if let Some(name) = inputs.host_name.as_deref().and_then(|h| DnsName::parse(h).ok()) {
        set.insert(San::Dns(name.as_str().to_owned()));
    }
    for name in &inputs.public_names {
        set.insert(San::Dns(name.as_str().to_owned()));
    }
    for ip in inputs.interface_addrs.iter().chain(inputs.public_ip.iter()) {
        // Link-local IPv6 needs a zone to be usable; a certificate cannot name it.
        let link_local_v6 = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if !link_local_v6 {
            set.insert(San::Ip(*ip));
        }
    }
    set.into_iter().collect()
}

const VALIDITY_DAYS: i64 = 3650;

/// A P-256 certificate and its PKCS#8 key, both PEM.
pub fn generate(sans: &[San], now: UnixTime) -> Result<(String, String), TlsError> {
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans
        .iter()
        .map(|san| match san {
            San::Dns(name) => name.clone().try_into().map(SanType::DnsName).map_err(err),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "edgebeam self-signed");
    dn.push(DnType::OrganizationName, "edgebeam");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let start = time::OffsetDateTime::from_unix_timestamp(now.secs() - 86_400)
        .map_err(|e| TlsError::Generate(format!("clock out of range: {e}")))?;
    params.not_before = start;
    params.not_after = start + time::Duration::days(VALIDITY_DAYS);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}
