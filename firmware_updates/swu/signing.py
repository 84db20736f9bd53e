"""CMS signatures of sw-description, as SWUpdate makes and checks them (RFC 5652).

`cryptography` signs but cannot verify CMS, so verification parses the SignedData with
asn1crypto and checks each step with cryptography's primitives: the messageDigest
attribute against the content, the signature over the DER SET of signed attributes, the
certificate's purpose (as OpenSSL's S/MIME signing purpose, SWUpdate's default) and trust.
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ArchiveError

MAX_SIGNATURE_SIZE = 64 * 1024
# sha1 and md5 are refused: a collision would let a forged sw-description reuse a signature.
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_BAD_SIG = "sw-description.sig is not a valid CMS signature"


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

    With `trusted_certs_pem` the signer must be one of those certificates or issued by one.
    """
    trusted = load_trusted(trusted_certs_pem) if trusted_certs_pem is not None else None
    if len(signature) > MAX_SIGNATURE_SIZE:
        raise ArchiveError(f"sw-description.sig is larger than {MAX_SIGNATURE_SIZE} bytes")
    try:
        signed_data = _signed_data(signature)
        signer_info = _only_signer(signed_data)
        cert = _signer_certificate(signed_data, signer_info, trusted or [])
        hash_name = _hash_name(signer_info["digest_algorithm"])
        signed_bytes = _signed_bytes(signer_info, content, hash_name)
        _check_signature(cert, signer_info, signed_bytes, hash_name)
    except ArchiveError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, UnsupportedAlgorithm):
        # asn1crypto parses lazily: a malformed field surfaces wherever it is first read.
        raise ArchiveError(_BAD_SIG) from None
    _check_purpose(cert)
    if trusted is not None:
        _check_trust(cert, trusted)
    return cert.subject.rfc4514_string()


def load_trusted(pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        raise ArchiveError(
            "the trusted signing certificates could not be read (no PEM certificate)"
        )
    return certs


def _signed_data(signature: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(signature, strict=True)
    if info["content_type"].native != "signed_data":
        raise ArchiveError(f"{_BAD_SIG} (it holds no SignedData)")
    signed_data = info["content"]
    signed_data.native  # noqa: B018 - parse every field now, inside verify()'s error handling
    if signed_data["encap_content_info"]["content"].native is not None:
        raise ArchiveError("sw-description.sig must be a detached signature (it embeds content)")
    return signed_data


def _only_signer(signed_data: cms.SignedData) -> cms.SignerInfo:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise ArchiveError(f"sw-description.sig has {len(signer_infos)} signers; expected one")
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
    raise ArchiveError("sw-description.sig does not include the signing certificate")


def _hash_name(algorithm) -> str:
    name = algorithm["algorithm"].native
    if name not in _HASHES:
        raise ArchiveError(f"sw-description.sig uses digest {name}, which is not accepted")
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
            raise ArchiveError(f"{_BAD_SIG} (attribute {kind} is repeated)")
        values[kind] = attr["values"][0].native
    if values.get("content_type") != "data":
        raise ArchiveError(f"{_BAD_SIG} (its content type is not data)")
    if values.get("message_digest") != hashlib.new(hash_name, content).digest():
        raise ArchiveError("sw-description does not match its signature (content digest differs)")
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
                f"sw-description.sig uses an unsupported signature algorithm ({kind})"
            )
    except InvalidSignature:
        raise ArchiveError(
            "the signature of sw-description is not valid (altered, or made with another key)"
        ) from None


def _check_purpose(cert: x509.Certificate) -> None:
    """Refuse what SWUpdate's default --cert-purpose (emailProtection) refuses."""
    subject = cert.subject.rfc4514_string()
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    allowed = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if usages is not None and not allowed & set(usages):
        raise ArchiveError(
            f"the signing certificate ({subject}) is not for e-mail protection "
            "(extendedKeyUsage), so SWUpdate would refuse it"
        )
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (key_usage.digital_signature or key_usage.content_commitment):
        raise ArchiveError(f"the signing certificate ({subject}) may not sign (keyUsage)")


def _check_trust(cert: x509.Certificate, trusted: list[x509.Certificate]) -> None:
    subject = cert.subject.rfc4514_string()
    _check_validity(cert, subject)
    if cert in trusted:
        return
    for anchor in trusted:
        if _is_ca(anchor) and anchor.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            _check_validity(anchor, anchor.subject.rfc4514_string())
            return
    raise ArchiveError(f"the archive is signed by {subject}, which is not a trusted signer")


def _check_validity(cert: x509.Certificate, subject: str) -> None:
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ArchiveError(
            f"the certificate of {subject} is valid only from {cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d}"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _key_usage(**granted: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{name: granted.get(name, False) for name in names})
