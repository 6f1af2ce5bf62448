"""HTTP Signatures (server/federation/signatures.py): the published examples
of RFC 9421 (Appendix B.2, section 4.3) and draft-cavage-12 (Appendix C)
verify; any request signed here verifies and any change to it does not; the
window around a signature's date; malformed headers are BadSignature, never
another exception."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.federation import signatures
from moot.federation.signatures import sign, verify
from moot.store.errors import BadSignature

# RFC 9421 Appendix B.1: test-key-rsa (private and public), test-key-rsa-pss and
# test-key-ed25519 (public).
TEST_KEY_RSA = """-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----
"""
TEST_KEY_RSA_PUBLIC = """-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsPBRrw
WEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsdJKFq
MGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75jfZg
kne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKIlE0P
uKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZSFlQ
PSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQAB
-----END RSA PUBLIC KEY-----
"""
TEST_KEY_RSA_PSS_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----
"""
TEST_KEY_ED25519_PUBLIC = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
# draft-cavage-http-signatures-12 Appendix C: the key "Test".
CAVAGE_TEST_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
"""

# RFC 9421 Appendix B.2: the request every example signs.
B2_BODY = b'{"hello": "world"}'
B2_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    "Content-Length": "18",
}
B2_CREATED = 1618884473


def b2(label: str, signature_input: str, signature: str) -> dict[str, str]:
    return B2_HEADERS | {
        "Signature-Input": f"{label}={signature_input}",
        "Signature": f"{label}=:{signature}:",
    }


def test_rfc9421_b21_minimal_signature_verifies_but_covers_too_little():
    headers = b2(
        "sig-b21",
        '();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"',
        "d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8"
        "Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjB"
        "qJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnL"
        "H1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==",
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    target = "/foo?param=Value&Pet=dog"
    key_id = signatures._verify_rfc9421(
        "POST", target, lowered, B2_BODY, TEST_KEY_RSA_PSS_PUBLIC, B2_CREATED, strict=False
    )
    assert key_id == "test-key-rsa-pss"
    with pytest.raises(BadSignature, match="does not cover @method, @target-uri, content-digest"):
        verify("POST", target, headers, B2_BODY, TEST_KEY_RSA_PSS_PUBLIC, now=B2_CREATED)


def test_rfc9421_b23_full_coverage_verifies():
    headers = b2(
        "sig-b23",
        '("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length")'
        ';created=1618884473;keyid="test-key-rsa-pss"',
        "bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5"
        "p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aY"
        "A2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+Q"
        "IF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==",
    )
    target = "/foo?param=Value&Pet=dog"
    assert signatures.key_id_of(headers) == "test-key-rsa-pss"
    assert verify("POST", target, headers, B2_BODY, TEST_KEY_RSA_PSS_PUBLIC, now=B2_CREATED + 10) == (
        "test-key-rsa-pss"
    )
    # The same request with another query, or a body that no longer matches its digest, fails.
    with pytest.raises(BadSignature, match="does not verify"):
        verify("POST", "/foo?param=Value&Pet=cat", headers, B2_BODY, TEST_KEY_RSA_PSS_PUBLIC, now=B2_CREATED)
    with pytest.raises(BadSignature, match="Content-Digest header does not match"):
        verify("POST", target, headers, b'{"hello": "World"}', TEST_KEY_RSA_PSS_PUBLIC, now=B2_CREATED)
    with pytest.raises(BadSignature, match="old"):
        verify("POST", target, headers, B2_BODY, TEST_KEY_RSA_PSS_PUBLIC)


def test_rfc9421_b26_ed25519_signature_base():
    headers = b2(
        "sig-b26",
        '("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"',
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==",
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    assert (
        signatures._verify_rfc9421(
            "POST", "/foo?param=Value&Pet=dog", lowered, B2_BODY, TEST_KEY_ED25519_PUBLIC, 0, strict=False
        )
        == "test-key-ed25519"
    )
    # A body whose digest the signature does not cover is refused.
    with pytest.raises(BadSignature, match="does not cover content-digest"):
        verify("POST", "/foo?param=Value&Pet=dog", headers, B2_BODY, TEST_KEY_ED25519_PUBLIC, now=B2_CREATED)


def test_rfc9421_section_4_3_rsa_v1_5_signature_verifies():
    """The proxy's signature of RFC 9421 section 4.3: rsa-v1_5-sha256 with
    test-key-rsa, over @authority and @path, with an expiry."""
    headers = {
        "Content-Type": "application/json",
        "Content-Digest": B2_HEADERS["Content-Digest"],
        "Content-Length": "18",
        "Forwarded": "for=192.0.2.123;host=example.com;proto=https",
        "Signature-Input": 'proxy_sig=("@method" "@authority" "@path" "content-digest" "content-type" '
        '"content-length" "forwarded");created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256"'
        ";expires=1618884540",
        "Signature": "proxy_sig=:S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fRad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHg"
        "xtRPz+MjniOaYmdkDcnL9cCpXJleXsOckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jnxQB+Pu68U9vVcasqOWAEObtNK"
        "KZd8tSFu7LB5YAv0RAGhB8tmpv7sFnIm9y+7X5kXQfi8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXAsD3LH2TwevU+/PB"
        "Pv0B6NMNk93wUs/vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6WfgS9ddzirrswsE1w5o0LV/g==:",
    }
    url = "https://origin.host.internal.example/foo?param=Value&Pet=dog"
    assert verify("POST", url, headers, B2_BODY, TEST_KEY_RSA_PUBLIC, now=1618884500) == "test-key-rsa"
    with pytest.raises(BadSignature, match="expired"):
        verify("POST", url, headers, B2_BODY, TEST_KEY_RSA_PUBLIC, now=1618884541)
    with pytest.raises(BadSignature, match="does not verify"):
        verify("PUT", url, headers, B2_BODY, TEST_KEY_RSA_PUBLIC, now=1618884500)


# draft-cavage-http-signatures-12 Appendix C: the request every example signs.
CAVAGE_HEADERS = {
    "Host": "example.com",
    "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
CAVAGE_DATE = 1388957500


def test_cavage_c3_all_headers_verifies():
    headers = CAVAGE_HEADERS | {
        "Signature": 'keyId="Test",algorithm="rsa-sha256",'
        'headers="(request-target) host date content-type digest content-length",'
        'signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q'
        '52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="'
    }
    target = "/foo?param=value&pet=dog"
    assert signatures.key_id_of(headers) == "Test"
    assert verify("POST", target, headers, B2_BODY, CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE) == "Test"
    # hs2019 is RSA-SHA256 for an RSA key; Authorization: Signature is read as well.
    as_hs2019 = {k: v for k, v in headers.items() if k != "Signature"}
    as_hs2019["Authorization"] = "Signature " + headers["Signature"].replace("rsa-sha256", "hs2019")
    assert verify("POST", target, as_hs2019, B2_BODY, CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE + 299) == "Test"
    with pytest.raises(BadSignature, match="Digest header does not match"):
        verify("POST", target, headers, b"{}", CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE)
    with pytest.raises(BadSignature, match="does not verify"):
        verify("POST", "/foo", headers, B2_BODY, CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE)


def test_cavage_c2_basic_test_verifies_without_a_body_only():
    headers = {k: v for k, v in CAVAGE_HEADERS.items() if k != "Digest"} | {
        "Signature": 'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date", '
        'signature="qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2i'
        'icw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="'
    }
    target = "/foo?param=value&pet=dog"
    assert verify("POST", target, headers, b"", CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE) == "Test"
    with pytest.raises(BadSignature, match="does not cover digest"):
        verify("POST", target, headers, B2_BODY, CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE)


def test_cavage_c1_default_test_covers_too_little():
    headers = CAVAGE_HEADERS | {
        "Signature": 'keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+i'
        "bttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtb"
        'GmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="'
    }
    with pytest.raises(BadSignature, match=r"does not cover \(request-target\), host"):
        verify("POST", "/foo?param=value&pet=dog", headers, b"", CAVAGE_TEST_PUBLIC, now=CAVAGE_DATE)


def test_lowercase_digest_and_hs2019_as_lemmy_sends_them():
    """Lemmy signs `algorithm="hs2019"` over a `Digest: sha-256=…` in lower case."""
    body = b'{"type": "Follow"}'
    headers = {
        "Host": "moot.example",
        "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
        "Digest": "sha-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    text = "\n".join(
        ["(request-target): post /inbox"] + [f"{name.lower()}: {value}" for name, value in headers.items()]
    )
    signature = base64.b64encode(signatures._sign(TEST_KEY_RSA, text.encode())).decode()
    headers["Signature"] = (
        'keyId="https://lemmy.example/u/a#main-key",algorithm="hs2019",'
        f'headers="(request-target) host date digest",signature="{signature}"'
    )
    assert verify("POST", "/inbox", headers, body, TEST_KEY_RSA_PUBLIC, now=CAVAGE_DATE) == (
        "https://lemmy.example/u/a#main-key"
    )


# --- any request signed here -----------------------------------------------------

NOW = 1_800_000_000
URL_PATH = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./", min_size=0, max_size=20)


def signed(method, host, path, body, scheme, *, content_type=None, now=NOW):
    url = f"https://{host}/{path}"
    extra = {"Content-Type": content_type} if content_type else {}
    added = sign(
        method,
        url,
        extra,
        body,
        key_id=f"https://{host}/actor#main-key",
        private_pem=TEST_KEY_RSA,
        scheme=scheme,
        now=now,
    )
    return url, extra | added


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    host=st.sampled_from(["moot.example", "a.example:8443", "xn--bcher-kva.example"]),
    path=URL_PATH,
    body=st.binary(max_size=200),
    scheme=st.sampled_from(["cavage", "rfc9421"]),
    change=st.sampled_from(["method", "path", "host", "date", "body", "signature", None]),
    content_type=st.sampled_from([None, "application/activity+json"]),
)
def test_a_signed_request_verifies_and_any_change_fails(
    method, host, path, body, scheme, change, content_type
):
    url, headers = signed(method, host, path, body, scheme, content_type=content_type)
    target = "/" + path
    key_id = f"https://{host}/actor#main-key"
    assert signatures.key_id_of(headers) == key_id
    if change is None:
        assert verify(method, target, headers, body, TEST_KEY_RSA_PUBLIC, now=NOW) == key_id
        assert verify(method, url, headers, body, TEST_KEY_RSA_PUBLIC, now=NOW) == key_id
        return
    if change == "method":
        method = "DELETE"
    elif change == "path":
        target += "x"
    elif change == "host":
        headers["Host"] = "evil.example"
    elif change == "date":
        headers["Date"] = "Fri, 15 Jan 2027 08:00:01 GMT"
    elif change == "body":
        body += b" "
    else:
        value = headers["Signature"]
        at = value.rindex(":" if scheme == "rfc9421" else '"') - 20
        headers["Signature"] = value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1 :]
    with pytest.raises(BadSignature):
        verify(method, target, headers, body, TEST_KEY_RSA_PUBLIC, now=NOW)


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_window_around_the_signature_date(scheme):
    _, headers = signed("POST", "moot.example", "inbox", b"{}", scheme)
    ok = (NOW - signatures.WINDOW_FUTURE + 1, NOW + signatures.WINDOW_PAST - 1)
    for now in ok:
        assert verify("POST", "/inbox", headers, b"{}", TEST_KEY_RSA_PUBLIC, now=now)
    with pytest.raises(BadSignature, match="old"):
        verify("POST", "/inbox", headers, b"{}", TEST_KEY_RSA_PUBLIC, now=NOW + signatures.WINDOW_PAST + 1)
    with pytest.raises(BadSignature, match="ahead"):
        verify("POST", "/inbox", headers, b"{}", TEST_KEY_RSA_PUBLIC, now=NOW - signatures.WINDOW_FUTURE - 1)


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_missing_required_components_are_named(scheme):
    _, headers = signed("POST", "moot.example", "inbox", b"{}", scheme)
    without_digest = {k: v for k, v in headers.items() if k not in ("Digest", "Content-Digest")}
    with pytest.raises(BadSignature, match="which the request does not have"):
        verify("POST", "/inbox", without_digest, b"{}", TEST_KEY_RSA_PUBLIC, now=NOW)
    without_host = {k: v for k, v in headers.items() if k != "Host"}
    with pytest.raises(BadSignature, match="no Host header"):
        verify("POST", "/inbox", without_host, b"{}", TEST_KEY_RSA_PUBLIC, now=NOW)
    unsigned = {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}
    with pytest.raises(BadSignature, match="not signed"):
        verify("POST", "/inbox", unsigned, b"{}", TEST_KEY_RSA_PUBLIC, now=NOW)
    with pytest.raises(BadSignature, match="not signed"):
        signatures.key_id_of(unsigned)


def test_a_key_that_cannot_be_read_is_a_bad_signature():
    _, headers = signed("GET", "moot.example", "g/x", b"", "cavage")
    for pem in ("", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "é"):
        with pytest.raises(BadSignature, match="key"):
            verify("GET", "/g/x", headers, b"", pem, now=NOW)


MALFORMED = [
    "",
    "garbage",
    'keyId="k"',
    'signature="AAAA"',
    'keyId="k",keyId="j",signature="AAAA"',
    'keyId="k",signature="AAAA",headers="(request-target) host date",headers="date"',
    'keyId="k",signature="not base64!",headers="(request-target) host date"',
    'keyId="k",signature="AAAA",headers="(request-target) host date (created)"',
    'keyId="k",signature="AAAA",headers="(request-target) host date (nonsense)"',
    'keyId="k",signature="AAAA",headers="(request-target) host host date"',
    'keyId="k",signature="AAAA",algorithm="rot13",headers="(request-target) host date"',
    'keyId="k" signature="AAAA"',
    "keyId=k,signature=AAAA",
    'keyId="' + "k" * 100_000 + '",signature="AAAA"',
    '\u202ekeyId="k",signature="AAAA"',
]
MALFORMED_9421 = [
    ("", ""),
    ("sig1", "sig1=:AAAA:"),
    ("sig1=(", "sig1=:AAAA:"),
    ('sig1=("@method");created=1800000000', "sig1=:AAAA:"),
    ('sig1=("@method" "@method" "@target-uri");created=1800000000;keyid="k"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri");created="soon";keyid="k"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid=5', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid="k"', 'sig1="AAAA"'),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid="k"', "sig2=:AAAA:"),
    ('sig1="@method";created=1800000000;keyid="k"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri" "@query-params";name="a");created=1800000000;keyid="k"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri" "@status");created=1800000000;keyid="k"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid="k";alg="hmac-sha256"', "sig1=:AAAA:"),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid="k"', "sig1=:" + "A" * 100_000 + ":"),
    ('sig1=("@method" "@target-uri");created=1800000000;keyid="ké"', "sig1=:AAAA:"),
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_cavage_headers_are_bad_signatures(value):
    headers = {"Host": "moot.example", "Date": "Fri, 15 Jan 2027 08:00:00 GMT", "Signature": value}
    with pytest.raises(BadSignature):
        verify("GET", "/inbox", headers, b"", TEST_KEY_RSA_PUBLIC, now=NOW)


@pytest.mark.parametrize(("signature_input", "signature"), MALFORMED_9421)
def test_malformed_rfc9421_headers_are_bad_signatures(signature_input, signature):
    headers = {"Host": "moot.example", "Signature-Input": signature_input, "Signature": signature}
    with pytest.raises(BadSignature):
        verify("GET", "/inbox", headers, b"", TEST_KEY_RSA_PUBLIC, now=NOW)


@settings(max_examples=100, deadline=None)
@given(
    signature=st.one_of(
        st.text(max_size=300), st.from_regex(r'(\s*[a-zA-Z]{1,9}\s*=\s*"[^"]{0,20}"\s*,?){0,6}')
    ),
    signature_input=st.one_of(
        st.none(),
        st.text(max_size=300),
        st.from_regex(r'sig1=\((\s*"[@a-z-]{1,12}"){0,5}\)(;[a-z]{1,7}=("[^"]{0,9}"|\d{1,11})){0,5}'),
    ),
    digest=st.one_of(st.none(), st.text(max_size=80)),
    date=st.one_of(st.none(), st.text(max_size=40)),
    body=st.binary(max_size=20),
)
def test_any_header_text_is_a_bad_signature_or_verifies(signature, signature_input, digest, date, body):
    headers = {"Host": "moot.example", "Signature": signature}
    for name, value in (("Signature-Input", signature_input), ("Digest", digest), ("Date", date)):
        if value is not None:
            headers[name] = value
    with pytest.raises(BadSignature):
        verify("POST", "/inbox", headers, body, TEST_KEY_RSA_PUBLIC, now=NOW)
    with contextlib.suppress(BadSignature):  # a key id is a string, or there is none
        assert isinstance(signatures.key_id_of(headers), str)
