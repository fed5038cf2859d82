"""Where webhooks may go: https on public addresses only, whatever notation a URL hides behind."""

import ipaddress

import pytest

from services.notification.targets import TargetRefused, Targets, numeric_host, refusal
from tests.unit.notification.conftest import PUBLIC, ScriptedDns

THIS_MACHINE = [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://LOCALHOST./hook", "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://[::ffff:7f00:1]/hook", "https://0x7f000001/hook",
    "https://2130706433/hook", "https://017700000001/hook", "https://127.1/hook", "https://0177.0.0.1/hook",
    "https://0x7f.0.0.1/hook", "https://127.0.0.1.:8443/hook", "https://127.255.255.254/hook",
    "https://0/hook", "https://0.0.0.0/hook", "https://[::]/hook", "https://[0:0:0:0:0:0:0:1]/hook",
]
PRIVATE_AND_SPECIAL = [
    "https://10.0.0.1/", "https://172.16.5.4/", "https://192.168.1.1/", "https://[fc00::1]/", "https://[fd12:3456::1]/",
    "https://169.254.1.1/", "https://[fe80::1]/", "https://100.64.0.1/", "https://100.127.255.254/",
    "https://224.0.0.1/", "https://[ff02::1]/", "https://240.0.0.1/", "https://255.255.255.255/",
    "https://192.0.2.1/", "https://198.18.0.1/", "https://[2001:db8::1]/",
    "https://[64:ff9b::7f00:1]/", "https://[2002:7f00:1::]/", "https://[2002:a00:1::]/",
    "https://[::ffff:10.0.0.1]/", "https://012.0.0.1/", "https://167772161/",  # 10.0.0.1 in octal and decimal
]
METADATA = [
    "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/latest/meta-data/",
    "https://100.100.100.200/latest/meta-data/", "https://169.254.170.2/v2/credentials",
    "https://[::ffff:169.254.169.254]/", "https://0xa9fea9fe/", "https://2852039166/", "https://0251.0376.0251.0376/",
]
NOT_A_TARGET = [
    "http://hooks.example/in",  # plain http
    "ftp://hooks.example/in", "javascript:alert(1)", "file:///etc/passwd", "https:///no-host", "hooks.example/in",
    "https://user:pass@hooks.example/in", "https://user@hooks.example/in", "https://hooks.example/in#x",
    "https://hooks.example/" + "a" * 2048, "https://nowhere.example/in", "https://hooks.example/\nHost: evil",
    "https://1.2.3.256/", "https://08.0.0.1/", "https://a.123/", "https://[::1/",
]


@pytest.fixture
def public_dns() -> ScriptedDns:
    return ScriptedDns({
        "hooks.example": [PUBLIC], "localhost": ["127.0.0.1", "::1"],
        "rebound.example": ["10.0.0.5"], "mixed.example": [PUBLIC, "127.0.0.1"],
        "metadata.google.internal": ["169.254.169.254"],
    })


@pytest.mark.parametrize("url", THIS_MACHINE + PRIVATE_AND_SPECIAL + METADATA)
async def test_no_notation_of_a_private_address_is_a_target(url, public_dns):
    with pytest.raises(TargetRefused, match="address|not a usable URL"):
        await Targets(resolve=public_dns).check(url)


async def test_localhost_is_refused_by_what_the_system_resolves_it_to():
    with pytest.raises(TargetRefused, match="loopback"):
        await Targets().check("https://localhost/hook")


@pytest.mark.parametrize("url", [
    "https://rebound.example/", "https://mixed.example/", "https://metadata.google.internal/",
])
async def test_a_name_is_refused_when_any_address_it_resolves_to_is_private(url, public_dns):
    with pytest.raises(TargetRefused, match=r"\(.*\) is a"):
        await Targets(resolve=public_dns).check(url)


@pytest.mark.parametrize("url", NOT_A_TARGET)
async def test_only_https_urls_without_credentials_to_a_resolvable_host_are_targets(url, public_dns):
    with pytest.raises(TargetRefused):
        await Targets(resolve=public_dns).check(url)


async def test_a_public_target_is_pinned_to_the_address_it_was_checked_at(public_dns):
    target = await Targets(resolve=public_dns).check("https://hooks.example:8443/in?tenant=7")
    assert str(target.pinned_url) == f"https://{PUBLIC}:8443/in?tenant=7"
    assert target.headers == {"Host": "hooks.example:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example"}
    literal = await Targets(resolve=public_dns).check(f"https://{PUBLIC}/in")
    assert literal.extensions == {} and public_dns.asked == ["hooks.example"]  # a literal is not looked up


async def test_allowing_private_targets_lets_http_and_this_machine_through_but_never_metadata(public_dns):
    local = Targets(allow_private=True, resolve=public_dns)
    for url in ("http://127.0.0.1:9/hook", "https://localhost/hook", "http://10.0.0.1/", "http://rebound.example/"):
        await local.check(url)
    for url in METADATA + ["http://metadata.google.internal/", "http://0.0.0.0/", "http://224.0.0.1/"]:
        with pytest.raises(TargetRefused):
            await local.check(url)
    with pytest.raises(TargetRefused, match="credentials"):
        await local.check("http://user:pass@127.0.0.1/")


def test_numbers_are_read_as_the_c_library_reads_them():
    loopback = ipaddress.ip_address("127.0.0.1")
    for host in ("127.1", "0177.0.0.1", "0x7f000001", "2130706433", "017700000001", "0x7f.0.0.1", "127.0.1"):
        assert numeric_host(host) == loopback, host
    assert numeric_host("hooks.example") is None
    assert refusal(ipaddress.ip_address(PUBLIC)) is None
    assert refusal(ipaddress.ip_address("2606:4700::1111")) is None
