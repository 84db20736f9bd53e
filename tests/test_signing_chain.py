"""Signer certificate chains: our verdict against `openssl cms -verify`'s, the libssl call
upstream SWUpdate makes (CMS_verify with the trusted bundle as the store, the signature's
certificates as untrusted ones, SWUpdate's default purpose emailProtection = smimesign), and
against Debian's swupdate, which since bookworm's deb12u3 ignores the signature's
certificates (CONFIG_CMS_IGNORE_ADDITIONAL_CERTS).

The certificates are made with the openssl CLI (`openssl ca`, for arbitrary validity dates),
the signatures with `openssl cms -sign -certfile`, as a vendor's build would make them."""

import datetime as dt

import pytest

from firmware_updates import swu
from firmware_updates.swu.manifest import render_manifest
from tests.test_swu import (  # noqa: F401 - identity, run_swupdate, swupdate_bin: fixtures
    SHA_FW,
    assert_installed,
    assert_refused,
    identity,
    inspect,
    openssl,
    refused,
    run_swupdate,
    signed_archive,
    swupdate_bin,
)

CONFIG = """
[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_cn
unique_subject = no
copy_extensions = none
[policy_cn]
commonName = supplied

[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_without_basic_constraints]
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[inter]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyCertSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_without_basic_constraints]
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_without_cert_sign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_server_only]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_unknown_critical]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
1.3.6.1.4.1.55555.1 = critical,ASN1:NULL
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[signer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer_key_encipherment]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer_server_only]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer_any_eku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[signer_plain]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class Pki:
    """Keys and certificates made by `openssl req` and `openssl ca` in one folder."""

    def __init__(self, folder):
        self.folder = folder
        (folder / "openssl.cnf").write_text(CONFIG)
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("01\n")
        self.keys = {}  # certificate name -> key name

    def run(self, *args):
        result = openssl(*args, cwd=self.folder)
        assert result.returncode == 0, result.stderr

    def make(self, name, profile, *, issuer=None, days=(-1, 365), key=None, cn=None):
        """name.pem (and name.key unless `key` names another's): self-signed without `issuer`.
        RSA for roots, EC P-256 below them, so both signature kinds occur in every chain."""
        key = self.keys[name] = key or name
        if (self.folder / f"{key}.key").exists():
            new_key = ["-key", f"{key}.key"]
        else:
            kind = ["rsa:2048"] if issuer is None else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            new_key = ["-newkey", *kind, "-nodes", "-keyout", f"{key}.key"]
        self.run("req", "-new", *new_key, "-subj", f"/CN={cn or name}", "-out", f"{name}.csr")
        now = dt.datetime.now(dt.UTC)
        start, end = (f"{now + dt.timedelta(days=d):%Y%m%d%H%M%SZ}" for d in days)
        signed_by = ["-selfsign", "-keyfile", f"{key}.key"] if issuer is None else [
            "-cert", f"{issuer}.pem", "-keyfile", f"{self.keys[issuer]}.key"]  # fmt: skip
        self.run("ca", "-batch", "-config", "openssl.cnf", *signed_by, "-in", f"{name}.csr",
                 "-out", f"{name}.pem", "-extensions", profile, "-notext",
                 "-startdate", start, "-enddate", end)  # fmt: skip

    def pem(self, *names) -> bytes:
        return b"".join((self.folder / f"{name}.pem").read_bytes() for name in names)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = Pki(tmp_path_factory.mktemp("pki"))
    make = pki.make
    make("root", "root")
    make("other-root", "root")
    make("inter", "inter", issuer="root")
    make("inter2", "inter", issuer="inter")
    make("signer", "signer", issuer="inter")
    make("signer2", "signer", issuer="inter2")
    make("signer-of-root", "signer", issuer="root")
    make("signer-plain", "signer_plain", issuer="inter")
    # validity
    make("expired-signer", "signer", issuer="inter", days=(-400, -30))
    make("future-signer", "signer", issuer="inter", days=(30, 400))
    make("expired-inter", "inter", issuer="root", days=(-400, -30))
    make("signer-of-expired-inter", "signer", issuer="expired-inter")
    make("expired-root", "root", days=(-400, -30))
    make("inter-of-expired-root", "inter", issuer="expired-root")
    make("signer-of-expired-root", "signer", issuer="inter-of-expired-root")
    # issuers that may not issue
    for profile in ("inter_not_ca", "inter_without_basic_constraints", "inter_without_cert_sign",
                    "inter_server_only", "inter_unknown_critical"):  # fmt: skip
        make(profile, profile, issuer="root")
        make(f"signer-of-{profile}", "signer", issuer=profile)
    make("root-pathlen0", "root_pathlen0")
    make("inter-under-pathlen0", "inter", issuer="root-pathlen0")
    make("signer-under-pathlen0", "signer", issuer="inter-under-pathlen0")
    make("signer-of-pathlen0", "signer", issuer="root-pathlen0")
    make("root-without-bc", "root_without_basic_constraints")
    make("inter-of-root-without-bc", "inter", issuer="root-without-bc")
    make("signer-of-root-without-bc", "signer", issuer="inter-of-root-without-bc")
    # signers that may not sign firmware under SWUpdate's default purpose
    for profile in ("signer_key_encipherment", "signer_server_only", "signer_any_eku"):
        make(profile, profile, issuer="inter")
    # an intermediate whose signature by the root is damaged (RSA: flipping the last byte
    # changes the signature value and nothing else)
    pki.run("x509", "-in", "inter.pem", "-outform", "DER", "-out", "inter.der")
    der = bytearray((pki.folder / "inter.der").read_bytes())
    der[-1] ^= 0x01
    (pki.folder / "inter-damaged.der").write_bytes(bytes(der))
    pki.run("x509", "-inform", "DER", "-in", "inter-damaged.der", "-out", "inter-damaged.pem")
    # two CAs that issued each other, with no trusted root above them
    make("loop-b0", "root", cn="loop B", key="loop-b")
    make("loop-a", "inter", issuer="loop-b0", cn="loop A")
    make("loop-b", "inter", issuer="loop-a", cn="loop B", key="loop-b")
    make("signer-in-loop", "signer", issuer="loop-a")
    return pki


def signature(pki, signer: str, included: tuple[str, ...]) -> tuple[bytes, bytes]:
    """(sw-description, its detached DER CMS signature by `signer`, carrying `included`)."""
    body = render_manifest(device_type="nord-gsm", version="5.40", hardware_revisions=["2.1"],
                           description="", images=[("fw.bin", SHA_FW)])  # fmt: skip
    (pki.folder / "sw-description").write_bytes(body)
    certfile = []
    if included:
        (pki.folder / "included.pem").write_bytes(pki.pem(*included))
        certfile = ["-certfile", "included.pem"]
    pki.run("cms", "-sign", "-binary", "-nosmimecap", "-outform", "DER", "-in", "sw-description",
            "-signer", f"{signer}.pem", "-inkey", f"{signer}.key", *certfile, "-out", "sig")  # fmt: skip
    return body, (pki.folder / "sig").read_bytes()


def openssl_accepts(pki, purpose: str, trusted: tuple[str, ...]) -> bool:
    """`openssl cms -verify` of the last signature() against the `trusted` bundle."""
    (pki.folder / "trusted.pem").write_bytes(pki.pem(*trusted))
    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", "sig",
                     "-content", "sw-description", "-CAfile", "trusted.pem", "-purpose", purpose,
                     "-out", "/dev/null", cwd=pki.folder)  # fmt: skip
    assert result.returncode in (0, 4), result.stderr  # 4: the signature was verified and refused
    return result.returncode == 0


ACCEPTED = None
PURPOSE = "purpose"  # refused for SWUpdate's default purpose only (-purpose any accepts it)


def case(id, signer, included, trusted, reason=ACCEPTED, kind=None):
    """`signer` signs, the signature carries `included`, `trusted` is the bundle; refused
    with `reason` (a part of it), or accepted."""
    return pytest.param(signer, included, trusted, reason, kind, id=id)


CASES = [
    case("one intermediate", "signer", ("inter",), ("root",)),
    case("two intermediates", "signer2", ("inter2", "inter"), ("root",)),
    case("root included too", "signer2", ("inter", "inter2", "root"), ("root",)),
    case("signer issued by the root", "signer-of-root", (), ("root",)),
    case("intermediate trusted with its root", "signer", (), ("root", "inter")),
    case("root second in the bundle", "signer", ("inter",), ("other-root", "root")),
    case("signer without extensions", "signer-plain", ("inter",), ("root",)),
    case("root without basicConstraints", "signer-of-root-without-bc", ("inter-of-root-without-bc",), ("root-without-bc",)),
    case("pathlen 0 root issued the signer", "signer-of-pathlen0", (), ("root-pathlen0",)),
    # trust
    case("untrusted root", "signer", ("inter",), ("other-root",),
         "signed by CN=signer, which is not a trusted signer: the issuer of CN=inter, CN=root, is neither trusted nor"),
    case("untrusted root included", "signer", ("inter", "root"), ("other-root",),
         "its chain ends at CN=root, which is not trusted"),
    case("intermediate missing", "signer", (), ("root",), "the issuer of CN=signer, CN=inter, is neither trusted nor"),
    case("intermediate trusted without its root", "signer", (), ("inter",),
         "the issuer of CN=inter, CN=root, is not trusted (a trusted certificate needs its issuers"),
    case("intermediate trusted, root only included", "signer", ("root",), ("inter",),
         "the issuer of CN=inter, CN=root, is not trusted (a trusted certificate needs its issuers"),
    case("signer trusted, not self-signed", "signer", ("inter", "root"), ("signer",),
         "the issuer of CN=signer, CN=inter, is not trusted"),
    case("damaged intermediate", "signer", ("inter-damaged",), ("root",),
         "the signature on the certificate of CN=inter does not verify with the key of CN=root"),
    case("CAs that issued each other", "signer-in-loop", ("loop-a", "loop-b"), ("root",),
         "the issuer of CN=loop B, CN=loop A,"),
    # validity
    case("expired signer", "expired-signer", ("inter",), ("root",), "the certificate of CN=expired-signer is valid only from"),
    case("future signer", "future-signer", ("inter",), ("root",), "the certificate of CN=future-signer is valid only from"),
    case("expired intermediate", "signer-of-expired-inter", ("expired-inter",), ("root",),
         "the certificate of CN=expired-inter is valid only from"),
    case("expired root", "signer-of-expired-root", ("inter-of-expired-root",), ("expired-root",),
         "the certificate of CN=expired-root is valid only from"),
    # issuers
    case("intermediate CA:FALSE", "signer-of-inter_not_ca", ("inter_not_ca",), ("root",),
         "CN=inter_not_ca is not a certificate authority"),
    case("intermediate without basicConstraints", "signer-of-inter_without_basic_constraints",
         ("inter_without_basic_constraints",), ("root",), "CN=inter_without_basic_constraints is not a certificate authority"),
    case("intermediate without keyCertSign", "signer-of-inter_without_cert_sign", ("inter_without_cert_sign",), ("root",),
         "CN=inter_without_cert_sign may not issue certificates (keyUsage"),
    case("unknown critical extension", "signer-of-inter_unknown_critical", ("inter_unknown_critical",), ("root",),
         "CN=inter_unknown_critical has a critical extension this check does not know (1.3.6.1.4.1.55555.1)"),
    case("path length exceeded", "signer-under-pathlen0", ("inter-under-pathlen0",), ("root-pathlen0",),
         "CN=root-pathlen0 allows 0 intermediate certificates below it"),
    # purpose (SWUpdate's default --cert-purpose; openssl -purpose any checks none of it)
    case("signer without digitalSignature", "signer_key_encipherment", ("inter",), ("root",),
         "(CN=signer_key_encipherment) may not sign (keyUsage)", PURPOSE),
    case("signer for serverAuth only", "signer_server_only", ("inter",), ("root",),
         "(CN=signer_server_only) is not for e-mail protection", PURPOSE),
    case("signer for anyExtendedKeyUsage only", "signer_any_eku", ("inter",), ("root",),
         "(CN=signer_any_eku) is not for e-mail protection", PURPOSE),
    case("intermediate for serverAuth only", "signer-of-inter_server_only", ("inter_server_only",), ("root",),
         "CN=inter_server_only is limited to other uses than e-mail protection", PURPOSE),
]  # fmt: skip


@pytest.mark.parametrize(("signer", "included", "trusted", "reason", "kind"), CASES)
def test_chain_verdict_is_openssls(pki, signer, included, trusted, reason, kind):
    body, sig = signature(pki, signer, included)
    data = signed_archive(body, sig)
    if reason is ACCEPTED:
        assert inspect(data, trusted_certs_pem=pki.pem(*trusted)).signer == f"CN={signer}"
    else:
        assert reason in refused(data, trusted_certs_pem=pki.pem(*trusted))
    # SWUpdate's own check (CMS_verify, purpose smimesign, as `openssl cms` by default) ...
    assert openssl_accepts(pki, "smimesign", trusted) == (reason is ACCEPTED)
    # ... and the bare chain rules: -purpose any differs only where the purpose refuses.
    assert openssl_accepts(pki, "any", trusted) == (reason is ACCEPTED or kind == PURPOSE)


def we_accept(data: bytes, trusted: bytes) -> bool:
    try:
        inspect(data, trusted_certs_pem=trusted)
    except swu.ArchiveError:
        return False
    return True


@pytest.mark.swupdate
@pytest.mark.parametrize(("signer", "included", "trusted", "reason", "kind"), CASES)
def test_swupdate_agrees_when_the_bundle_holds_the_chain(
    run_swupdate, pki, signer, included, trusted, reason, kind  # noqa: F811
):
    """Debian's swupdate judges the same archive and bundle as we do. It builds the chain from
    its bundle only, so the certificates each case has the signature carry go into the bundle."""
    body, sig = signature(pki, signer, ())
    data, bundle = signed_archive(body, sig), pki.pem(*trusted, *included)
    verdict, log = run_swupdate(data, cert=bundle)
    assert verdict == ("installed" if we_accept(data, bundle) else "refused"), log


@pytest.mark.swupdate
def test_swupdate_of_debian_ignores_the_intermediates_a_signature_carries(
    run_swupdate, pki  # noqa: F811
):
    """Where we follow openssl and upstream SWUpdate's default, not Debian's build: a chain
    through an intermediate that only the signature carries. Such a release installs only on
    devices whose SWUpdate uses those certificates, or whose bundle has the intermediate."""
    data = signed_archive(*signature(pki, "signer", ("inter",)))
    assert we_accept(data, pki.pem("root")) and openssl_accepts(pki, "smimesign", ("root",))
    assert_refused(run_swupdate(data, cert=pki.pem("root")), "Authentication of all signatures failed")
    assert_installed(run_swupdate(data, cert=pki.pem("root", "inter")))


def test_chain_length_is_bounded_where_openssl_allows_100(pki):
    """Deliberately stricter than openssl (depth 100): at most eight certificates from signer
    to root, where vendors' chains have two to four."""
    issuer = "root"
    for n in range(1, 9):
        pki.make(f"deep{n}", "inter", issuer=issuer)
        issuer = f"deep{n}"
    pki.make("deep-signer-8", "signer", issuer="deep6")  # root, deep1..deep6, signer: 8
    pki.make("deep-signer-10", "signer", issuer="deep8")  # root, deep1..deep8, signer: 10
    inters = tuple(f"deep{n}" for n in range(1, 9))
    body, sig = signature(pki, "deep-signer-8", inters)
    assert inspect(signed_archive(body, sig), trusted_certs_pem=pki.pem("root")).signer
    body, sig = signature(pki, "deep-signer-10", inters)
    assert "chain is longer than 8 certificates" in refused(
        signed_archive(body, sig), trusted_certs_pem=pki.pem("root")
    )
    assert openssl_accepts(pki, "smimesign", ("root",))
