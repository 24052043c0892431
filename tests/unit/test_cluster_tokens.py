"""Swarm join tokens: Docker's exact form, the CA pin, secrets, rotation and the errors dockerd prints."""

from __future__ import annotations

import hashlib
import re

import pytest

from libnetwork.cluster import ids, tokens
from libnetwork.cluster.ids import Role
from libnetwork.errors import CAFingerprintMismatch, InvalidJoinToken, JoinTokenRefused

DOCKER_TOKEN = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")
# any bytes serve as a bundle here: tokens only hash it
CA = b"-----BEGIN CERTIFICATE-----\nroot one\n-----END CERTIFICATE-----\n"
OTHER_CA = b"-----BEGIN CERTIFICATE-----\nroot two\n-----END CERTIFICATE-----\n"
# a token Docker printed in moby/moby#25611
REAL_TOKEN = "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c"


def test_generated_tokens_have_dockers_form_and_round_trip() -> None:
    for role in Role:
        token = tokens.generate(CA, role)
        assert DOCKER_TOKEN.match(str(token))
        parsed = tokens.parse(str(token))
        assert (parsed.version, parsed.ca_digest, parsed.secret) == (1, token.ca_digest, token.secret)
        assert str(parsed) == str(token)


def test_digest_is_sha256_of_the_served_bundle_in_padded_base36() -> None:
    token = tokens.generate(CA, Role.WORKER)
    assert token.ca_digest == hashlib.sha256(CA).hexdigest()
    assert int(str(token).split("-")[2], 36) == int(hashlib.sha256(CA).hexdigest(), 16)


def test_small_numbers_are_zero_padded() -> None:
    token = tokens.JoinToken(version=1, ca_digest="0" * 63 + "1", secret="1".zfill(25))
    assert str(token) == f"SWMTKN-1-{'0' * 49}1-{'0' * 24}1"
    assert tokens.parse(str(token)) == token


def test_a_token_docker_printed_parses() -> None:
    parsed = tokens.parse(REAL_TOKEN)
    assert str(parsed) == REAL_TOKEN
    assert len(parsed.ca_digest) == 64


def test_v2_fips_tokens_are_read_as_swarmkit_reads_them() -> None:
    v2 = REAL_TOKEN.replace("SWMTKN-1-", "SWMTKN-2-1-")
    parsed = tokens.parse(v2)
    assert (parsed.version, parsed.fips) == (2, True)
    assert str(parsed) == v2


def test_secrets_differ_between_roles_and_draws() -> None:
    secrets = {tokens.generate(CA, role).secret for role in Role for _ in range(20)}
    assert len(secrets) == 40


@pytest.mark.parametrize("text", [
    "",
    "SWMTKN",
    "SWMTKN-1",
    "SWMTKN-1-abc",
    "swmtkn-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-3-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-1-0-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-2-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-2-7-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wx-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7",
    "SWMTKN-1-49NJ1CMQL0JKZ5S954YI3OEX3NEDYZ0FB0XX14IE39TRTI4WXV-8vxv8rssmk743ojnwacrr2e7c",
    "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4w!v-8vxv8rssmk743ojnwacrr2e7c",
    f"SWMTKN-1-{'z' * 50}-8vxv8rssmk743ojnwacrr2e7c",
    f"{REAL_TOKEN} ",
    f"{REAL_TOKEN}-extra",
])
def test_malformed_tokens_are_invalid_join_token(text: str) -> None:
    with pytest.raises(InvalidJoinToken) as caught:
        tokens.parse(text)
    assert caught.value.message == "invalid join token"
    assert caught.value.status == 500


def test_the_joiner_accepts_the_pinned_ca_and_refuses_another() -> None:
    token = tokens.parse(str(tokens.generate(CA, Role.WORKER)))
    tokens.verify_ca(token, CA)
    with pytest.raises(CAFingerprintMismatch) as caught:
        tokens.verify_ca(token, OTHER_CA)
    assert caught.value.message == f"remote CA does not match fingerprint. Expected: {hashlib.sha256(CA).hexdigest()}"
    assert caught.value.status == 500


def test_the_manager_tells_roles_apart_and_refuses_others() -> None:
    current = tokens.JoinTokens.create(CA)
    assert current.role_for(str(current.worker)) is Role.WORKER
    assert current.role_for(str(current.manager)) is Role.MANAGER
    for_other_cluster = tokens.JoinToken(1, hashlib.sha256(OTHER_CA).hexdigest(), current.worker.secret)
    for refused in (str(tokens.generate(CA, Role.WORKER)), str(for_other_cluster), "", "SWMTKN-1-x"):
        with pytest.raises(JoinTokenRefused) as caught:
            current.role_for(refused)
        assert caught.value.message == "A valid join token is necessary to join this cluster"
        assert caught.value.status == 400
        assert caught.value.joiner_message == (
            "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster")


def test_rotation_invalidates_only_the_rotated_role() -> None:
    before = tokens.JoinTokens.create(CA)
    after = before.rotate(Role.WORKER)
    assert after.manager == before.manager
    assert after.worker.secret != before.worker.secret
    assert after.worker.ca_digest == before.worker.ca_digest
    with pytest.raises(JoinTokenRefused):
        after.role_for(str(before.worker))
    assert after.role_for(str(after.worker)) is Role.WORKER
    assert after.role_for(str(before.manager)) is Role.MANAGER
    rotated_manager = after.rotate(Role.MANAGER)
    with pytest.raises(JoinTokenRefused):
        rotated_manager.role_for(str(before.manager))


def test_tokens_survive_dockers_json_shape() -> None:
    current = tokens.JoinTokens.create(CA)
    shape = current.to_docker()
    assert set(shape) == {"Worker", "Manager"}
    assert tokens.JoinTokens.from_docker(shape) == current


def test_ids_have_swarmkits_form() -> None:
    drawn = {ids.new_node_id() for _ in range(200)} | {ids.new_cluster_id() for _ in range(200)}
    assert len(drawn) == 400
    assert all(ids.is_valid_id(value) for value in drawn)
    # the forced top bit would otherwise always give the same first character
    assert len({value[0] for value in drawn}) > 10
    assert ids.to_base36(0) == "0"
    assert ids.to_base36(36 ** 3 - 1) == "zzz"
    assert Role.from_ou("swarm-worker") is Role.WORKER
    assert Role.MANAGER.ou == "swarm-manager"
