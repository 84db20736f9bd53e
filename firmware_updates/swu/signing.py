"""CMS signatures of sw-description, as SWUpdate makes and checks them (RFC 5652).

`cryptography` signs but cannot verify CMS, so verification parses the SignedData with
asn1crypto and checks each step with cryptography's primitives: the messageDigest
attribute against the content, the signature over the DER SET of signed attributes, the
certificate's purpose (as OpenSSL's S/MIME signing purpose, SWUpdate's default) and trust:
the chain from the signer to a trusted root, built and judged as OpenSSL's X509_verify_cert
does for SWUpdate's CMS_verify (`openssl cms -verify -CAfile trusted.pem`).
"""

import datetime as dt
import hashlib

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from .errors import ArchiveCode, ArchiveError, Words

MAX_SIGNATURE_SIZE = 64 * 1024
# sha1 and md5 are refused: a collision would let a forged sw-description reuse a signature.
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
# Certificates from the signer to the root, both included. OpenSSL allows 100; vendors use 2-4,
# and the bound keeps the work on a hostile signature small.
MAX_CHAIN = 8
# Critical extensions OpenSSL knows and either checks like this module or, without
# -policy_check, ignores. OpenSSL refuses a certificate with any other critical extension, and
# so does this module. (Name constraints, which OpenSSL enforces, are refused below.)
_UNDERSTOOD_CRITICAL = {
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.POLICY_CONSTRAINTS, ExtensionOID.POLICY_MAPPINGS, ExtensionOID.INHIBIT_ANY_POLICY,
}  # fmt: skip


def sign(content: bytes, *, key_pem: bytes, cert_pem: bytes) -> bytes:
    """Detached DER CMS over `content`, as `openssl cms -sign -binary -nosmimecap -outform DER`."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    options = [
        pkcs7.PKCS7Options.DetachedSignature,
        pkcs7.PKCS7Options.Binary,
        pkcs7.PKCS7Options.NoCapabilities,
    ]
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
    return builder.sign(serialization.Encoding.DER, options)


def make_signing_identity(common_name: str = "Firmware signing") -> tuple[bytes, bytes]:
    """A new RSA key and self-signed certificate that SWUpdate accepts with `-k cert.pem`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        # SWUpdate checks the S/MIME signing purpose by default (--cert-purpose).
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def verify(content: bytes, signature: bytes, *, trusted_certs_pem: bytes | None) -> str:
    """Check a detached CMS signature over `content`; return the signer's subject (RFC 4514).

    With `trusted_certs_pem` the signer's certificate must chain, through certificates the
    signature carries (`openssl cms -sign -certfile`), to a self-signed one of those, as
    `openssl cms -verify -CAfile` decides with SWUpdate's default purpose (smimesign).
    """
    trusted = load_trusted(trusted_certs_pem) if trusted_certs_pem is not None else None
    if len(signature) > MAX_SIGNATURE_SIZE:
        raise ArchiveError("sw-description.sig is larger than {limit} bytes", limit=MAX_SIGNATURE_SIZE, code=ArchiveCode.SIGNATURE_INVALID)
    try:
        signed_data = _signed_data(signature)
        signer_info = _only_signer(signed_data)
        cert = _signer_certificate(signed_data, signer_info, trusted or [])
        included = _included_certificates(signed_data)
        hash_name = _hash_name(signer_info["digest_algorithm"])
        signed_bytes = _signed_bytes(signer_info, content, hash_name)
        _check_signature(cert, signer_info, signed_bytes, hash_name)
    except ArchiveError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, UnsupportedAlgorithm):
        # asn1crypto parses lazily: a malformed field surfaces wherever it is first read.
        raise ArchiveError("sw-description.sig is not a valid CMS signature", code=ArchiveCode.SIGNATURE_INVALID) from None
    _check_purpose(cert)
    if trusted is not None:
        _check_trust(cert, included, trusted)
    return cert.subject.rfc4514_string()


def load_trusted(pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        raise ArchiveError(
            "the trusted signing certificates could not be read (no PEM certificate)",
            code=ArchiveCode.SIGNER_UNTRUSTED,
        )
    return certs


def _signed_data(signature: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(signature, strict=True)
    if info["content_type"].native != "signed_data":
        raise ArchiveError("sw-description.sig is not a valid CMS signature (it holds no SignedData)", code=ArchiveCode.SIGNATURE_INVALID)
    signed_data = info["content"]
    signed_data.native  # noqa: B018 - parse every field now, inside verify()'s error handling
    if signed_data["encap_content_info"]["content"].native is not None:
        raise ArchiveError("sw-description.sig must be a detached signature (it embeds content)", code=ArchiveCode.SIGNATURE_INVALID)
    return signed_data


def _only_signer(signed_data: cms.SignedData) -> cms.SignerInfo:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise ArchiveError("sw-description.sig has {count} signers; expected one", count=len(signer_infos), code=ArchiveCode.SIGNATURE_INVALID)
    return signer_infos[0]


def _signer_certificate(signed_data, signer_info, trusted) -> x509.Certificate:
    candidates = [
        choice.chosen
        for choice in signed_data["certificates"] or []
        if choice.name == "certificate"
    ]
    candidates += [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trusted
    ]
    sid = signer_info["sid"]
    for candidate in candidates:
        if sid.name == "issuer_and_serial_number":
            matches = (
                candidate.issuer == sid.chosen["issuer"]
                and candidate.serial_number == sid.chosen["serial_number"].native
            )
        else:
            matches = candidate.key_identifier == sid.chosen.native
        if matches:
            return x509.load_der_x509_certificate(candidate.dump())
    raise ArchiveError("sw-description.sig does not include the signing certificate", code=ArchiveCode.SIGNATURE_INVALID)


def _included_certificates(signed_data) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(choice.chosen.dump())
        for choice in signed_data["certificates"] or []
        if choice.name == "certificate"
    ]


def _hash_name(algorithm) -> str:
    name = algorithm["algorithm"].native
    if name not in _HASHES:
        raise ArchiveError("sw-description.sig uses digest {digest}, which is not accepted", digest=name, code=ArchiveCode.SIGNATURE_INVALID)
    return name


def _signed_bytes(signer_info, content: bytes, hash_name: str) -> bytes:
    """What the signature covers: the signed attributes when present, else the content."""
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void) or len(attrs) == 0:
        return content
    values = {}
    for attr in attrs:
        kind = attr["type"].native
        if kind in values or len(attr["values"]) != 1:
            raise ArchiveError("sw-description.sig is not a valid CMS signature (attribute {kind} is repeated)",
                                   kind=kind, code=ArchiveCode.SIGNATURE_INVALID)
        values[kind] = attr["values"][0].native
    if values.get("content_type") != "data":
        raise ArchiveError("sw-description.sig is not a valid CMS signature (its content type is not data)", code=ArchiveCode.SIGNATURE_INVALID)
    if values.get("message_digest") != hashlib.new(hash_name, content).digest():
        raise ArchiveError("sw-description does not match its signature (content digest differs)", code=ArchiveCode.SIGNATURE_INVALID)
    # The signature covers the attributes encoded as a SET: swap the [0] IMPLICIT tag
    # (one byte, 0xA0) for SET's 0x31; dump() returns the bytes exactly as received.
    return b"\x31" + attrs.dump()[1:]


def _check_signature(
    cert: x509.Certificate, signer_info, signed_bytes: bytes, hash_name: str
) -> None:
    algorithm = signer_info["signature_algorithm"]
    signature = signer_info["signature"].native
    key = cert.public_key()
    hash_algorithm = _HASHES[hash_name]()
    kind = algorithm.signature_algo
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_algorithm)
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algorithm["parameters"]
            mgf_hash = _HASHES[_hash_name(params["mask_gen_algorithm"]["parameters"])]()
            pss = padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=params["salt_length"].native)
            key.verify(
                signature, signed_bytes, pss, _HASHES[_hash_name(params["hash_algorithm"])]()
            )
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(hash_algorithm))
        else:
            raise ArchiveError(
                "sw-description.sig uses an unsupported signature algorithm ({algorithm})", algorithm=kind, code=ArchiveCode.SIGNATURE_INVALID,
            )
    except InvalidSignature:
        raise ArchiveError(
            "the signature of sw-description is not valid (altered, or made with another key)", code=ArchiveCode.SIGNATURE_INVALID,
        ) from None


def _check_purpose(cert: x509.Certificate) -> None:
    """Refuse what SWUpdate's default --cert-purpose (OpenSSL's smimesign) refuses."""
    subject = cert.subject.rfc4514_string()
    usages = _extension(cert, x509.ExtendedKeyUsage)
    # Only emailProtection: OpenSSL does not take anyExtendedKeyUsage for it.
    if usages is not None and ExtendedKeyUsageOID.EMAIL_PROTECTION not in usages:
        raise ArchiveError(
            "the signing certificate ({subject}) is not for e-mail protection (extendedKeyUsage), so SWUpdate "
            "would refuse it", subject=subject, code=ArchiveCode.CERTIFICATE_INVALID,
        )
    key_usage = _extension(cert, x509.KeyUsage)
    if key_usage is not None and not (key_usage.digital_signature or key_usage.content_commitment):
        raise ArchiveError("the signing certificate ({subject}) may not sign (keyUsage)", subject=subject, code=ArchiveCode.CERTIFICATE_INVALID)


def _check_trust(signer: x509.Certificate, included, trusted: list[x509.Certificate]) -> None:
    """Refuse what OpenSSL's X509_verify_cert refuses for SWUpdate (default flags)."""
    chain = _build_chain(signer, included, trusted)
    for depth, cert in enumerate(chain):
        subject = _name(cert)
        # OpenSSL checks the dates of every certificate, the trusted root's too.
        _check_validity(cert, subject)
        critical = [e.oid for e in _extensions(cert) if e.critical]
        unknown = [oid.dotted_string for oid in critical if oid not in _UNDERSTOOD_CRITICAL]
        if unknown:
            raise _untrusted(signer, Words("{subject} has a critical extension this check does not know "
                                           "({extensions})", subject=subject, extensions=", ".join(unknown)))
        if _extension(cert, x509.NameConstraints) is not None:
            raise _untrusted(signer, Words("{subject} has name constraints, which are not supported",
                                           subject=subject))
        if depth > 0:
            _check_issuer(signer, cert, subject, is_root=depth == len(chain) - 1)
            _check_path_length(signer, cert, subject, below=chain[1:depth])


def _build_chain(signer, included, trusted) -> list[x509.Certificate]:
    """[signer, its issuer, ..., a self-signed trusted certificate], as OpenSSL builds it.

    Each issuer is looked for among the trusted certificates first, and among those the
    signature carries only while no trusted one is in the chain. So a trusted intermediate
    counts only with its root in the bundle: SWUpdate does not set X509_V_FLAG_PARTIAL_CHAIN.
    """
    chain = [signer]
    while not (chain[-1] in trusted and _self_signed(chain[-1])):
        top = chain[-1]
        if _self_signed(top):
            raise _untrusted(signer, Words("its chain ends at {subject}, which is not trusted", subject=_name(top))
                             if top != signer else None)  # fmt: skip
        reached_trust = any(cert in trusted for cert in chain)
        issuer = _find_issuer(top, [trusted] if reached_trust else [trusted, included], chain)
        if issuer is None:
            if reached_trust:
                why = Words("the issuer of {subject}, {issuer}, is not trusted (a trusted certificate needs its "
                            "issuers, up to a root, too)", subject=_name(top), issuer=top.issuer.rfc4514_string())
            else:
                why = Words("the issuer of {subject}, {issuer}, is neither trusted nor included in the signature",
                            subject=_name(top), issuer=top.issuer.rfc4514_string())
            raise _untrusted(signer, why)
        if len(chain) == MAX_CHAIN:
            raise _untrusted(signer, Words("its certificate chain is longer than {count} certificates",
                                           count=MAX_CHAIN))
        chain.append(issuer)
    return chain


def _find_issuer(cert, pools, chain) -> x509.Certificate | None:
    """The first pool's certificate that issued `cert`, one valid now if there is (a renewed CA
    next to the old one); None if no pool has one. Skipping what is already in the chain
    stops loops of CAs that issued each other."""
    named = []
    for pool in pools:
        candidates = [c for c in pool if c.subject == cert.issuer and _key_id_matches(c, cert)
                      and c not in chain]  # fmt: skip
        named += candidates
        # OpenSSL picks by name and key identifier, then fails on the signature; checking it
        # here passes over a same-name CA with another key (never accepting more: a chain
        # found is a chain whose every signature verifies).
        issuers = [c for c in candidates if _signed_by(cert, c)]
        if issuers:
            return min(issuers, key=lambda c: not _valid_now(c))
    if named:
        raise _untrusted(chain[0], Words("the signature on the certificate of {subject} does not verify with "
                                         "the key of {issuer} (altered, or issued by another key of that name)",
                                         subject=_name(cert), issuer=_name(named[0])))
    return None


def _check_issuer(signer, cert, subject: str, *, is_root: bool) -> None:
    """What OpenSSL's check_chain asks of a certificate that issued another."""
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        raise _untrusted(signer, Words("{subject} may not issue certificates (keyUsage lacks keyCertSign)",
                                       subject=subject))
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None:
        is_ca = constraints.ca
    else:
        # OpenSSL still takes an old-style trusted root: X.509 v1, or keyUsage keyCertSign
        # without basicConstraints. An intermediate must say CA:TRUE.
        is_ca = is_root and (cert.version == x509.Version.v1 or usage is not None)
    if not is_ca:
        missing = "CA:FALSE" if constraints is not None else "no basicConstraints"
        raise _untrusted(signer, Words("{subject} is not a certificate authority ({missing})", subject=subject,
                                       missing=missing))
    # SWUpdate's purpose applies to the issuers too: an extendedKeyUsage must allow it.
    usages = _extension(cert, x509.ExtendedKeyUsage)
    if usages is not None and ExtendedKeyUsageOID.EMAIL_PROTECTION not in usages:
        raise _untrusted(signer, Words("{subject} is limited to other uses than e-mail protection "
                                       "(extendedKeyUsage), so SWUpdate would refuse it", subject=subject))


def _check_path_length(signer, cert, subject: str, *, below: list[x509.Certificate]) -> None:
    constraints = _extension(cert, x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    # Self-issued certificates (a CA's key rollover) do not count (RFC 5280 6.1.4, OpenSSL).
    count = sum(1 for c in below if c.subject != c.issuer)
    if limit is not None and count > limit:
        raise _untrusted(signer, Words("{subject} allows {limit} intermediate certificates below it (pathlen), "
                                       "the chain has {count}", subject=subject, limit=limit, count=count))


def _untrusted(signer: x509.Certificate, why: Words | None) -> ArchiveError:
    if why is None:
        return ArchiveError("the archive is signed by {signer}, which is not a trusted signer", signer=_name(signer),
                            code=ArchiveCode.SIGNER_UNTRUSTED)
    return ArchiveError("the archive is signed by {signer}, which is not a trusted signer: {why}",
                        signer=_name(signer), why=why, code=ArchiveCode.SIGNER_UNTRUSTED)


def _self_signed(cert: x509.Certificate) -> bool:
    """OpenSSL's notion: its own issuer by name and key identifier. A trust anchor's
    signature over itself proves nothing and is not checked (OpenSSL neither)."""
    return cert.subject == cert.issuer and _key_id_matches(cert, cert)


def _key_id_matches(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    """`cert`'s authorityKeyIdentifier, where present, names `issuer` (X509_check_akid)."""
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    if aki is None:
        return True
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    if aki.key_identifier is not None and ski is not None and aki.key_identifier != ski.digest:
        return False
    serial = aki.authority_cert_serial_number
    return serial is None or serial == issuer.serial_number


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_validity(cert: x509.Certificate, subject: str) -> None:
    if not _valid_now(cert):
        raise ArchiveError(
            "the certificate of {subject} is valid only from {start} to {end}", subject=subject,
            start=f"{cert.not_valid_before_utc:%Y-%m-%d}", end=f"{cert.not_valid_after_utc:%Y-%m-%d}", code=ArchiveCode.CERTIFICATE_INVALID,
        )


def _valid_now(cert: x509.Certificate) -> bool:
    return cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        return cert.extensions
    except (x509.DuplicateExtension, ValueError):
        # OpenSSL refuses such certificates as well (invalid or duplicate extensions).
        raise ArchiveError(
            "the certificate of {subject} has malformed or repeated extensions", subject=_name(cert), code=ArchiveCode.CERTIFICATE_INVALID,
        ) from None


def _extension(cert: x509.Certificate, kind):
    """The value of the extension of class `kind`, or None."""
    try:
        return _extensions(cert).get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(**granted: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{name: granted.get(name, False) for name in names})
