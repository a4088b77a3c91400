"""What a user writes after `pip install u21-mock`: no conftest, only the published surface
(the fixtures and `u21_mock`'s public names), plain `urllib` as the client under test.

CI runs this file from a directory outside the repository, against the installed wheel, with
and without `-n 4`.
"""

import json
import urllib.error
import urllib.request
import uuid

import pytest

from u21_mock import U21Mock, U21MockError

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, url, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"u21-key": key, "content-type": "application/json"})
    try:
        with NO_PROXY.open(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def create(fake, file_name, stream="transactions", key=None):
    status, body = call("POST", f"{fake.url}/v1/imports/pre-signed-url/create", key or fake.api_key, {"stream_name": stream, "file_name": file_name})
    assert status == 200, body
    return body


def upload(created, file_name, content):
    """The S3 form POST: the returned fields in order, then the file, as multipart."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in created["form_fields"].items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(created["url"], data=b"".join(parts), method="POST", headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    try:
        with NO_PROXY.open(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def get_file(fake, file_id):
    status, body = call("GET", f"{fake.url}/v1/imports/{file_id}", fake.api_key)
    assert status == 200, body
    return body


def test_create_upload_drive_the_clock_and_see_finished(u21_mock):
    created = create(u21_mock, "payments.csv")
    assert created["url"] == u21_mock.s3.url
    assert upload(created, "payments.csv", b"id,amount\n1,10.50\n2,-3\n") == 204
    assert get_file(u21_mock, created["file_id"])["status"] == "QUEUED"  # manual timing: it waits
    u21_mock.control.wait_for_status(created["file_id"], "FINISHED")
    seen = get_file(u21_mock, created["file_id"])
    assert (seen["status"], seen["successful_count"], seen["failure_count"]) == ("FINISHED", 2, 0)


def test_a_fault_is_what_the_client_sees(u21_mock):
    u21_mock.control.add_fault("/v1/imports/pre-signed-url/create", {"kind": "rate_limited", "retry_after_secs": 2}, times=1)
    status, body = call("POST", f"{u21_mock.url}/v1/imports/pre-signed-url/create", u21_mock.api_key, {"stream_name": "s", "file_name": "a.csv"})
    assert status == 429
    assert body["error_code"] == "too_many_requests"
    assert create(u21_mock, "a.csv")["file_id"]  # the fault was used up


@pytest.mark.parametrize("turn", [1, 2])
def test_a_reset_isolates_tests(u21_mock, turn):
    # Both turns create the same name: a leftover from the other turn would answer 409.
    status, body = call("POST", f"{u21_mock.url}/v1/imports/list", u21_mock.api_key, {})
    assert (status, body["total_count"]) == (200, 0), body
    u21_mock.control.set_timing("instant")  # put back before the next test
    created = create(u21_mock, "same-name.csv")
    assert created["file_id"]
    assert u21_mock.control.requests(path="/v1/imports/pre-signed-url/create")[-1]["status"] == 200


def test_three_factory_fakes_with_their_own_keys(u21_mock_factory):
    fakes = [u21_mock_factory(api_keys=[(f"key-{n}", f"org{n}")]) for n in range(3)]
    assert len({fake.url for fake in fakes}) == 3
    for n, fake in enumerate(fakes):
        assert fake.api_key == f"key-{n}"
        create(fake, "a.csv")
        other = fakes[(n + 1) % 3].api_key
        status, body = call("POST", f"{fake.url}/v1/imports/list", other, {})
        assert (status, body["error_code"]) == (401, "unauthorized")
    assert all(fake.control.requests(path="/v1/imports/pre-signed-url/create") for fake in fakes)


@pytest.mark.u21_mock(timing="instant", config_toml='[[streams]]\nname = "transactions"\ncolumns = [{ name = "id", type = "integer", required = true }]\n')
def test_a_marked_test_gets_its_own_configured_fake(u21_mock):
    created = create(u21_mock, "bad.csv")
    assert upload(created, "bad.csv", b"id\n1\nnot-a-number\n") == 204
    seen = get_file(u21_mock, created["file_id"])
    assert (seen["status"], seen["successful_count"], seen["failure_count"]) == ("FINISHED", 1, 1)


def test_refusals_carry_the_fakes_message(u21_mock):
    with pytest.raises(U21MockError) as refused:
        u21_mock.control.transition(999, "FINISHED")
    assert refused.value.status == 404
    assert "999" in str(refused.value)


def test_a_fake_can_be_started_and_stopped_by_hand():
    with U21Mock.start(timing="fast") as fake:
        assert fake.control.clock()["timing"] == "fast"
        assert fake.running
    assert not fake.running
