"""The user registry: add, list, disable, enable, reset, sign-in check, and what each role may do."""

from __future__ import annotations

import pytest

from rbm_utils.store.database import Store
from rbm_utils.store.users import (
    UserError,
    add_user,
    authenticate,
    get_user,
    has_users,
    list_users,
    reset_password,
    set_active,
    user_for_login,
)

PW = "correct horse battery"


@pytest.fixture()
def st():
    with Store("sqlite://") as store:
        yield store


def test_add_list_and_authenticate(st):
    assert not has_users(st)
    add_user(st, "nadia.rahman", "leadership", [], PW, "nadia")
    add_user(st, "amara.diallo", "regional_director", ["afr", " AFR "], PW)
    assert has_users(st)
    users = list_users(st)
    assert users["name"].tolist() == ["amara.diallo", "nadia.rahman"]
    assert "password_hash" not in users.columns
    assert users.set_index("name").loc["amara.diallo", "units"] == "AFR"  # upper case, once
    assert authenticate(st, "amara.diallo", PW) == get_user(st, "amara.diallo")
    assert authenticate(st, "amara.diallo", PW + "x") is None
    assert authenticate(st, "nobody", PW) is None
    assert user_for_login(st, "nadia").name == "nadia.rahman"
    assert user_for_login(st, "amara.diallo").name == "amara.diallo"  # no login given: the name itself


def test_duplicate_name_and_login_are_refused(st):
    add_user(st, "ann", "officer", ["AFR"], PW, "ann")
    with pytest.raises(UserError, match="already exists"):
        add_user(st, "ann", "viewer", [], PW)
    with pytest.raises(UserError, match="login 'ann' already belongs"):
        add_user(st, "ann.other", "viewer", [], PW, "ann")
    assert len(list_users(st)) == 1


@pytest.mark.parametrize(
    ("name", "role", "units", "password", "said"),
    [
        ("ann", "boss", ["AFR"], PW, "role 'boss' is not one of"),
        ("Ann Officer", "officer", ["AFR"], PW, "lower-case letters"),
        ("ann", "officer", [], PW, "needs at least one unit"),
        ("ann", "officer", ["AFR"], "short", "at least 12 characters"),
    ],
)
def test_bad_arguments_are_refused(st, name, role, units, password, said):
    with pytest.raises(UserError, match=said):
        add_user(st, name, role, units, password)
    assert not has_users(st)


def test_disabled_user_cannot_sign_in_and_reset_password(st):
    add_user(st, "ann", "officer", ["AFR"], PW, "ann")
    set_active(st, "ann", False)
    assert authenticate(st, "ann", PW) is None
    assert user_for_login(st, "ann") is None
    ann = get_user(st, "ann")
    assert not ann.active and not ann.ingests_for("AFR") and not ann.approves("AFR")
    set_active(st, "ann", True)
    reset_password(st, "ann", "a brand new passphrase")
    assert authenticate(st, "ann", PW) is None
    assert authenticate(st, "ann", "a brand new passphrase").name == "ann"
    with pytest.raises(UserError, match="at least 12"):
        reset_password(st, "ann", "short")
    with pytest.raises(UserError, match="no user 'bob'"):
        set_active(st, "bob", False)


def test_what_each_role_may_do(st):
    officer = add_user(st, "ann", "officer", ["AFR"], PW)
    head = add_user(st, "amara.diallo", "regional_director", ["AFR"], PW)
    boss = add_user(st, "nadia.rahman", "leadership", [], PW)
    viewer = add_user(st, "vic", "viewer", [], PW)
    assert (officer.ingests_for("AFR"), officer.approves("AFR"), officer.ingests_for("EUR")) == (True, False, False)
    assert (head.approves("AFR"), head.approves("EUR"), head.sees_drafts_of("AFR")) == (True, False, True)
    assert boss.approves("EUR") and boss.ingests_for("CYB")
    assert not viewer.sees_drafts_of("AFR") and not viewer.approves("AFR")
