//! TLS client configuration: the platform's trust store (rustls-platform-verifier),
//! plus the certificates of a user's `ca_file`, plus one rule the platform
//! verifier lacks: a server certificate that *is* one of the `ca_file`
//! certificates (byte for byte) is trusted as pinned.
//!
//! Why the rule: `openssl req -x509` (and most "make a dev certificate" recipes)
//! writes a self-signed certificate with `basicConstraints CA:TRUE`. Given as
//! `ca_file`, curl, Python's `ssl` and Node accept it, while webpki refuses a CA
//! certificate presented as the server's own (`CaUsedAsEndEntity`). A pinned
//! certificate is still checked for the host name, its validity period, and the
//! handshake signature; only the chain building is skipped, because the user
//! named this exact certificate.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::connect::{ConnectError, ConnectErrorKind};

/// The client configuration for `extra_ca_pem` (the contents of `ca_file`), or the
/// shared default one without it.
pub fn client_config(
    extra_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let tls_err = |m: String| ConnectError::new(ConnectErrorKind::Tls, m);
    match extra_ca_pem {
        None => DEFAULT
            .get_or_init(|| build(Vec::new()))
            .clone()
            .map_err(tls_err),
        Some(pem) => build(parse_pem(pem)?).map_err(tls_err),
    }
}

fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    let mut reader = std::io::BufReader::new(pem);
    let roots: Result<Vec<_>, _> = rustls_pemfile::certs(&mut reader).collect();
    let roots =
        roots.map_err(|e| ConnectError::new(ConnectErrorKind::Tls, format!("bad CA PEM: {e}")))?;
    if roots.is_empty() {
        return Err(ConnectError::new(
            ConnectErrorKind::Tls,
            "no certificate in the CA PEM",
        ));
    }
    Ok(roots)
}

fn build(roots: Vec<CertificateDer<'static>>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let platform =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots.clone(), provider.clone())
            .map_err(|e| format!("TLS setup failed: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if roots.is_empty() {
        Arc::new(platform)
    } else {
        Arc::new(PinnedOrPlatform {
            pinned: roots,
            platform,
        })
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The platform verifier, then the pinned-certificate rule when it refuses.
struct PinnedOrPlatform {
    pinned: Vec<CertificateDer<'static>>,
    platform: rustls_platform_verifier::Verifier,
}

impl fmt::Debug for PinnedOrPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedOrPlatform({} pinned)", self.pinned.len())
    }
}

impl ServerCertVerifier for PinnedOrPlatform {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.platform.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(ok) => return Ok(ok),
            Err(e) => e,
        };
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        verify_pinned(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.platform.supported_verify_schemes()
    }
}

/// What a pinned certificate must still satisfy: the host name and the validity period.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let (not_before, not_after) = validity(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let now = now.as_secs();
    if now < not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > not_after {
        return Err(CertificateError::Expired.into());
    }
    Ok(())
}

/// `(notBefore, notAfter)` in Unix seconds, read from a DER X.509 certificate.
/// webpki checks these during chain building, which a pinned certificate skips,
/// and does not expose them; this walks the few fields in front of them.
pub(crate) fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let (cert, _) = read_tlv(der, 0x30)?;
    let (mut tbs, _) = read_tlv(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = read_tlv(tbs, 0xa0)?.1; // [0] EXPLICIT version
    }
    tbs = read_tlv(tbs, 0x02)?.1; // serialNumber
    tbs = read_tlv(tbs, 0x30)?.1; // signature algorithm
    tbs = read_tlv(tbs, 0x30)?.1; // issuer
    let (validity, _) = read_tlv(tbs, 0x30)?;
    let (not_before, rest) = read_time(validity)?;
    let (not_after, rest) = read_time(rest)?;
    rest.is_empty().then_some((not_before, not_after))
}

/// One DER element with the expected tag: `(contents, rest)`.
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, input) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || input.len() < n {
            return None;
        }
        let (bytes, rest) = input.split_at(n);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (input.len() >= len).then(|| input.split_at(len))
}

/// A `UTCTime` (YYMMDDHHMMSSZ) or `GeneralizedTime` (YYYYMMDDHHMMSSZ), the two
/// forms RFC 5280 section 4.1.2.5 allows, as Unix seconds.
fn read_time(input: &[u8]) -> Option<(u64, &[u8])> {
    let (digits, year) = if input.first() == Some(&0x17) {
        let (body, rest) = read_tlv(input, 0x17)?;
        let (yy, body) = two_digits(body)?;
        // RFC 5280: YY >= 50 is 19YY, otherwise 20YY.
        let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
        ((body, rest), year)
    } else {
        let (body, rest) = read_tlv(input, 0x18)?;
        let (hi, body) = two_digits(body)?;
        let (lo, body) = two_digits(body)?;
        ((body, rest), hi * 100 + lo)
    };
    let ((body, rest), year) = (digits, year);
    let (month, body) = two_digits(body)?;
    let (day, body) = two_digits(body)?;
    let (hour, body) = two_digits(body)?;
    let (minute, body) = two_digits(body)?;
    let (second, body) = two_digits(body)?;
    if body != b"Z" || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3_600 + minute * 60 + second, rest))
}

fn two_digits(s: &[u8]) -> Option<(u64, &[u8])> {
    match s {
        [a @ b'0'..=b'9', b @ b'0'..=b'9', rest @ ..] => {
            Some((u64::from(a - b'0') * 10 + u64::from(b - b'0'), rest))
        }
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), for years >= 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A TLS handshake failure in words a user can act on; rustls's own `Display`
/// of a verifier error is a debug dump (`Other(OtherError(CaUsedAsEndEntity))`).
pub fn describe_handshake_error(host: &str, err: &std::io::Error) -> String {
    let rustls_err = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let Some(rustls::Error::InvalidCertificate(cert_err)) = rustls_err else {
        return format!("TLS handshake with {host} failed: {err}");
    };
    let why = match cert_err {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("it is not valid for the name {host:?}")
        }
        CertificateError::UnknownIssuer => {
            "it is not signed by a trusted certificate authority".to_owned()
        }
        CertificateError::BadSignature => "its signature is invalid".to_owned(),
        CertificateError::Revoked => "it has been revoked".to_owned(),
        CertificateError::Other(other) => {
            let text = other.to_string();
            if text.contains("CaUsedAsEndEntity") {
                "it is a CA certificate used as the server's own certificate".to_owned()
            } else {
                format!("the verifier refused it ({text})")
            }
        }
        other => format!("{other}"),
    };
    format!(
        "TLS handshake with {host} failed: the server's certificate was refused: {why} \
         (for a private CA or a self-signed server certificate, pass that certificate \
         as ca_file)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        parse_pem(pem.as_bytes())
            .ok()
            .and_then(|v| v.into_iter().next())
            .expect("fixture PEM")
    }

    const UTC_ONLY: &str = include_str!("tls/localhost_2026_2036.pem");
    const UTC_AND_GENERALIZED: &str = include_str!("tls/localhost_2049_2051.pem");

    #[test]
    fn validity_reads_utc_time() {
        // 2026-01-01T00:00:00Z, 2036-01-01T12:30:05Z
        assert_eq!(
            validity(der(UTC_ONLY).as_ref()),
            Some((1_767_225_600, 2_082_803_405))
        );
    }

    #[test]
    fn validity_reads_utc_and_generalized_time() {
        // 2049-12-31T23:59:59Z (UTCTime "49"), 2051-02-03T04:05:06Z (GeneralizedTime)
        assert_eq!(
            validity(der(UTC_AND_GENERALIZED).as_ref()),
            Some((2_524_607_999, 2_559_009_906))
        );
    }

    #[test]
    fn validity_of_truncated_or_garbage_der_is_none() {
        let full = der(UTC_ONLY);
        let bytes = full.as_ref();
        for cut in 0..bytes.len() {
            // Any prefix cuts the outer SEQUENCE short: never a panic, never a value.
            assert_eq!(validity(&bytes[..cut]), None, "prefix of {cut} bytes");
        }
        assert_eq!(validity(b"\x30\x84\xff\xff\xff\xff"), None);
        assert_eq!(validity(b""), None);
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    #[test]
    fn pinned_certificate_checks_name_and_period() {
        let cert = der(UTC_ONLY);
        let localhost = ServerName::try_from("localhost").expect("name");
        let ip = ServerName::try_from("127.0.0.1").expect("ip");
        let other = ServerName::try_from("example.com").expect("name");
        let inside = at(1_800_000_000);
        assert!(verify_pinned(&cert, &localhost, inside).is_ok());
        assert!(verify_pinned(&cert, &ip, inside).is_ok());
        assert!(matches!(
            verify_pinned(&cert, &other, inside),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
        assert_eq!(
            verify_pinned(&cert, &localhost, at(1_767_225_599)),
            Err(CertificateError::NotValidYet.into())
        );
        assert_eq!(
            verify_pinned(&cert, &localhost, at(2_082_803_406)),
            Err(CertificateError::Expired.into())
        );
        assert!(verify_pinned(&cert, &localhost, at(2_082_803_405)).is_ok());
    }

    #[test]
    fn only_a_byte_identical_certificate_is_pinned() {
        let pinned = der(UTC_ONLY);
        let stranger = der(UTC_AND_GENERALIZED);
        let localhost = ServerName::try_from("localhost").expect("name");
        let verifier = PinnedOrPlatform {
            pinned: vec![pinned.clone()],
            platform: rustls_platform_verifier::Verifier::new_with_extra_roots(
                vec![pinned.clone()],
                Arc::new(rustls::crypto::ring::default_provider()),
            )
            .expect("verifier"),
        };
        let verify = |cert: &CertificateDer<'_>, secs: u64| {
            verifier.verify_server_cert(cert, &[], &localhost, &[], at(secs))
        };
        assert!(verify(&pinned, 1_800_000_000).is_ok());
        // The stranger would pass the pinned checks at this time (name and period
        // match); it is refused because it is not in ca_file.
        assert!(verify_pinned(&stranger, &localhost, at(2_540_000_000)).is_ok());
        assert!(verify(&stranger, 2_540_000_000).is_err());
    }

    #[test]
    fn default_and_bad_pem_configs() {
        assert!(client_config(None).is_ok());
        assert!(client_config(Some(b"not pem")).is_err());
        assert!(client_config(Some(UTC_ONLY.as_bytes())).is_ok());
    }
}
