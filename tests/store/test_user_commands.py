"""``rbm user``, ``rbm approve``, ``rbm unlock`` and ``rbm ingest`` as the signed-in person: the
login (``getpass.getuser``) and the password (standard input) are monkeypatched."""

from __future__ import annotations

import io

import pytest
from factories import TEST_PASSWORD, minimal_unit, register, register_approvers, sheet_rows, sign_in_as, write_grid_xlsx

from rbm_utils.cli import main
from rbm_utils.store.database import Store
from rbm_utils.store.users import authenticate, get_user


@pytest.fixture()
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'rbm.sqlite'}"


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_first_user_is_leadership_and_then_only_leadership_manages_users(url, capsys, monkeypatch):
    sign_in_as(monkeypatch, "root")
    code, out = run(capsys, monkeypatch, "user", "add", "ann", "--role", "officer", "--unit", "AFR", "--store", url)
    assert code == 1 and "the first user of a store must be leadership" in out
    pw = TEST_PASSWORD + "\n"
    code, out = run(capsys, monkeypatch, "user", "add", "boss", "--role", "leadership", "--os-login", "root",
                    "--store", url, stdin=pw)  # fmt: skip
    assert (code, out.strip()) == (0, "Added boss: leadership, command-line login root.")
    # a password is never an argument
    assert run(capsys, monkeypatch, "user", "add", "x.y", "--role", "viewer", "--password", "p", "--store", url)[0] == 2
    code, out = run(capsys, monkeypatch, "user", "add", "ann", "--role", "officer", "--unit", "afr",
                    "--os-login", "ann", "--store", url, stdin=pw)  # fmt: skip
    assert code == 0 and "officer of AFR" in out
    code, out = run(capsys, monkeypatch, "user", "add", "bob", "--role", "officer", "--unit", "XYZ", "--store", url)
    assert code == 1 and "unknown unit XYZ" in out
    code, out = run(capsys, monkeypatch, "user", "add", "bob", "--role", "officer", "--unit", "AFR", "--store", url,
                    stdin="short\n")  # fmt: skip
    assert code == 1 and "at least 12 characters" in out
    code, out = run(capsys, monkeypatch, "user", "add", "bob", "--role", "boss", "--store", url)
    assert code == 2

    code, out = run(capsys, monkeypatch, "user", "list", "--store", url)
    assert code == 0 and "2 user(s)" in out and "argon2" not in out
    assert [ln.split()[:3] for ln in out.splitlines() if ln.startswith((" ann", " boss"))] == [
        ["ann", "officer", "AFR"],
        ["boss", "leadership", "yes"],
    ]

    sign_in_as(monkeypatch, "ann")  # an officer manages nobody else
    for argv in (["user", "add", "eve", "--role", "leadership"], ["user", "list"], ["user", "disable", "boss"]):
        code, out = run(capsys, monkeypatch, *argv, "--store", url, stdin=pw)
        assert code == 1 and "only the bureau's leadership may" in out, argv
    code, out = run(capsys, monkeypatch, "user", "reset", "boss", "--store", url, stdin="a new long passphrase\n")
    assert code == 1
    code, out = run(capsys, monkeypatch, "user", "reset", "ann", "--store", url, stdin="my own new passphrase\n")
    assert code == 0  # one's own password
    sign_in_as(monkeypatch, "mallory")  # not a registered login
    code, out = run(capsys, monkeypatch, "user", "list", "--store", url)
    assert code == 1 and "your login 'mallory' is not an active registered user" in out

    sign_in_as(monkeypatch, "root")
    code, out = run(capsys, monkeypatch, "user", "disable", "boss", "--store", url)
    assert code == 1 and "last active leadership user" in out
    assert run(capsys, monkeypatch, "user", "disable", "ann", "--store", url)[0] == 0
    with Store(url) as st:
        assert authenticate(st, "ann", "my own new passphrase") is None  # disabled
        assert not get_user(st, "ann").active
    assert run(capsys, monkeypatch, "user", "enable", "ann", "--store", url)[0] == 0
    with Store(url) as st:
        assert authenticate(st, "ann", "my own new passphrase").name == "ann"


def test_a_password_typed_at_a_terminal_is_asked_twice(url, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    typed = iter(["first passphrase!", "other passphrase"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    monkeypatch.setattr("sys.stdin", Tty())
    code = main(["user", "add", "boss", "--role", "leadership", "--store", url])
    assert code == 1 and "the two passwords differ" in capsys.readouterr().err
    typed = iter(["first passphrase!"] * 2)
    assert main(["user", "add", "boss", "--role", "leadership", "--store", url]) == 0


def _ingest_afr(tmp_path, capsys, monkeypatch, url, *extra: str) -> tuple[int, str]:
    unit, frames = minimal_unit()
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", sheet_rows(unit, frames))
    return run(capsys, monkeypatch, "ingest", str(path), "--store", url, *extra)


def test_approve_and_unlock_as_the_signed_in_person(tmp_path, url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    sign_in_as(monkeypatch, "amara")
    code, out = _ingest_afr(tmp_path, capsys, monkeypatch, url)  # no user yet: as before
    assert code == 0
    code, out = run(capsys, monkeypatch, "approve", "AFR", "2026-Q3", "--store", url)
    assert code == 1 and "no user is registered in this store yet" in out and "rbm user add" in out
    register_approvers(url)
    register(url, "someone", "regional_director", ("AFR",), "someone")

    code, out = run(capsys, monkeypatch, "approve", "AFR", "2026-Q3", "--by", "Nadia Rahman", "--store", url)
    assert code == 1 and "--by may only name yourself: you are signed in as amara.diallo" in out
    sign_in_as(monkeypatch, "ann")
    code, out = run(capsys, monkeypatch, "approve", "AFR", "2026-Q3", "--store", url)
    assert code == 1 and "ann (officer of AFR) may not approve AFR" in out
    sign_in_as(monkeypatch, "someone")  # the role allows, the settings do not name them
    code, out = run(capsys, monkeypatch, "approve", "AFR", "2026-Q3", "--store", url)
    assert code == 1 and "Only the Regional Director of AFR (Amara Diallo) or the Deputy Director" in out
    sign_in_as(monkeypatch, "amara")
    code, out = run(capsys, monkeypatch, "approve", "AFR", "2026-Q3", "--by", "Amara Diallo", "--store", url)
    assert code == 0 and "AFR 2026-Q3 approved by Amara Diallo (Regional Director)" in out
    assert "Recorded as signed-in user amara.diallo." in out

    code, out = run(capsys, monkeypatch, "unlock", "AFR", "2026-Q3", "--reason", "typo", "--store", url)
    assert code == 1 and "rbm unlock: refused: only the bureau's leadership or the Deputy Director" in out
    assert run(capsys, monkeypatch, "unlock", "AFR", "2026-Q3", "--store", url)[0] == 2  # the reason is required
    sign_in_as(monkeypatch, "nadia")
    code, out = run(capsys, monkeypatch, "unlock", "AFR", "2026-Q3", "--reason", "K1 was typed twice", "--store", url)
    assert code == 0 and "AFR 2026-Q3 unlocked by nadia.rahman" in out and "Reason: K1 was typed twice" in out

    code, out = run(capsys, monkeypatch, "history", "AFR", "--store", url)
    assert code == 0
    lines = [ln.split() for ln in out.splitlines() if ln.startswith(" 2026-Q3")]
    assert [ln[:2] for ln in lines] == [["2026-Q3", "approved"], ["2026-Q3", "unlocked"]]
    assert "amara.diallo" in lines[0] and "nadia.rahman" in lines[1] and out.count("K1 was typed twice") == 1


def test_ingest_as_the_signed_in_user(tmp_path, url, capsys, monkeypatch):
    register_approvers(url)
    register(url, "sofia.marin", "cluster_facilitator", ("CYB",), "sofia")
    with Store(url) as st:
        before = st.dump()
    sign_in_as(monkeypatch, "mallory")
    code, out = _ingest_afr(tmp_path, capsys, monkeypatch, url)
    assert code == 1 and "rbm ingest: refused: your login 'mallory' is not an active registered user" in out
    sign_in_as(monkeypatch, "sofia")
    code, out = _ingest_afr(tmp_path, capsys, monkeypatch, url, "--dry-run")
    assert code == 1 and "sofia.marin (cluster_facilitator) may not ingest for AFR" in out
    assert "AFR-K1" not in out  # nothing of AFR's content is shown
    sign_in_as(monkeypatch, "ann")
    code, out = _ingest_afr(tmp_path, capsys, monkeypatch, url, "--by", "somebody")
    assert code == 1 and "--by may only name yourself" in out
    with Store(url) as st:
        assert st.dump() == before
    code, out = _ingest_afr(tmp_path, capsys, monkeypatch, url)
    assert code == 0 and "Next: the unit's approver (Amara Diallo, signed in) locks the quarter" in out
    with Store(url) as st:
        subs = st.submissions("AFR")
    assert subs[["submitted_by", "ingested_by"]].values.tolist() == [["Test Officer", "ann"]]


def test_bootstrap_adds_one_local_leadership_user_once_with_a_private_password_file(url, tmp_path, capsys, monkeypatch):
    sign_in_as(monkeypatch, "root")
    secret = tmp_path / "data" / "admin-password.txt"
    code, out = run(capsys, monkeypatch, "user", "bootstrap", "--password-file", str(secret), "--store", url)
    assert code == 0 and f"with the password in {secret}" in out and "/login" in out
    assert secret.stat().st_mode & 0o777 == 0o600
    password = secret.read_text().strip()
    with Store(url) as st:
        user = authenticate(st, "nadia.rahman", password)  # the sample settings' bureau approver
        assert user is not None and user.is_leadership and user.os_login == "root"
    # a second run changes nothing and keeps the file
    code, out = run(capsys, monkeypatch, "user", "bootstrap", "--password-file", str(secret), "--store", url)
    assert code == 0 and "Added" not in out and secret.read_text().strip() == password
    # the one user is listed for the login that bootstrapped it
    code, out = run(capsys, monkeypatch, "user", "list", "--store", url)
    assert code == 0 and "1 user(s)" in out
