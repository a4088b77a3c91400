"""The pytest plugin, tested with pytester (run with `-p pytester`): the fixtures, the marker,
the options, and what a failed test's report carries."""

import pytest

from u21_mock import U21Mock


def test_the_plugin_is_registered_by_the_wheel(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--u21-mock-bin=PATH*", "*--u21-mock-url=URL*"])
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.u21_mock(**options)*"])
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["*fixtures defined from u21_mock.pytest_plugin*"])
    for fixture in ("u21_mock_factory -- *", "u21_mock_server [[]session scope[]] -- *", "u21_mock -- *"):
        result.stdout.fnmatch_lines([fixture])


def test_one_session_fake_and_a_reset_before_each_test(pytester):
    pytester.makepyfile(
        """
        PIDS = []

        def test_dirty(u21_mock):
            PIDS.append(u21_mock.pid)
            c = u21_mock.control
            c.add_file("s", "a.csv", "id\\n1\\n")
            c.set_timing("instant")
            c.set_streams([{"name": "only"}])
            c.set_clock(1_000_000_000_000)
            c.add_fault("/v1/**", "internal_error")

        def test_clean(u21_mock):
            PIDS.append(u21_mock.pid)
            c = u21_mock.control
            assert c.export_state()["files"] == []
            clock = c.clock()
            assert (clock["timing"], clock["frozen"]) == ("manual", False)
            assert c.streams() == [] and c.faults() == []
            assert PIDS[0] == PIDS[1], "the same process"
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_marked_test_gets_a_process_of_its_own(pytester):
    pytester.makepyfile(
        """
        import pytest

        def test_shared(u21_mock, u21_mock_server):
            assert u21_mock is u21_mock_server

        @pytest.mark.u21_mock(timing="fast", api_keys=[("team-key", "acme")], rate_limit=0)
        def test_marked(u21_mock, u21_mock_server):
            assert u21_mock.pid != u21_mock_server.pid
            assert u21_mock.api_key == "team-key"
            assert u21_mock.control.clock()["timing"] == "fast"

        @pytest.mark.u21_mock("fast")
        def test_positional(u21_mock):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*takes keyword arguments only*"])


def test_factory_fakes_are_separate_and_stopped_after_the_test(pytester):
    pytester.makepyfile(
        """
        import os
        FAKES = []

        def test_three(u21_mock_factory):
            FAKES.extend(u21_mock_factory(api_keys=[f"k{n}"]) for n in range(3))
            assert len({f.url for f in FAKES}) == 3
            assert [f.api_key for f in FAKES] == ["k0", "k1", "k2"]

        def test_after(u21_mock):
            assert [f.running for f in FAKES] == [False] * 3
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_failed_test_reports_the_fakes_log_and_journal(pytester):
    pytester.makepyfile(
        """
        import urllib.request

        def test_fails(u21_mock):
            request = urllib.request.Request(u21_mock.url + "/v1/imports/7", headers={"u21-key": "wrong-key"})
            try:
                urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request)
            except Exception:
                pass
            assert False, "the client under test went wrong"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- u21_mock journal (newest 1) -*",
        '*"method":"GET"*"path":"/v1/imports/7"*"status":401*',
        "*- u21_mock log (http://127.0.0.1:*) -*",
        "*GET*/v1/imports/7*401*",
    ])
    assert "u21-mock-log-sync" not in result.stdout.str(), "the plugin's own marker is not shown"


def test_url_option_attaches_to_a_running_fake(pytester):
    with U21Mock.start() as shared:
        pytester.makepyfile(
            f"""
            import pytest

            def test_attached(u21_mock):
                assert u21_mock.url == "{shared.url}"
                assert u21_mock.pid is None
                u21_mock.control.add_file("s", "from-inner.csv", "id\\n1\\n")

            @pytest.mark.u21_mock(timing="fast")
            def test_needs_its_own(u21_mock):
                pass
            """
        )
        result = pytester.runpytest("--u21-mock-url", shared.url, "-rs")
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*needs a fake of its own*"])
        assert shared.running, "an attached fake is left running"
        assert shared.control.file(1)["file_name"] == "from-inner.csv"


def test_bin_option_names_the_binary(pytester, tmp_path):
    pytester.makepyfile("def test_any(u21_mock):\n    pass\n")
    result = pytester.runpytest("--u21-mock-bin", str(tmp_path / "no-such-binary"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot run*no-such-binary*"])


def test_each_xdist_worker_has_its_own_session_fake(pytester):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.parametrize("n", range(8))
        def test_pid(u21_mock, n):
            with open(os.path.join(os.environ["OUT"], f"{n}.txt"), "w") as out:
                out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {u21_mock.pid}")
        """
    )
    out = pytester.path / "out"
    out.mkdir()
    pytester._monkeypatch.setenv("OUT", str(out))
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=8)
    seen = {tuple(path.read_text().split()) for path in out.iterdir()}
    workers = {worker for worker, _ in seen}
    pids = {pid for _, pid in seen}
    assert len(workers) == 2 and len(pids) == 2, seen
