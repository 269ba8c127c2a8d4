"""Approvals and unlocks by a registered person: role and settings both checked, ``--by`` only
yourself, an unlock only by an authority above the approver with a reason, every event recorded
with the person (store API; the commands are in test_user_commands.py)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from factories import TEST_PASSWORD, sign_in_as

import rbm_utils.store.signoff as signoff
from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.store.database import ApprovalError, Store
from rbm_utils.store.history_view import approval_events
from rbm_utils.store.users import add_user, get_user

CFG = load_config()  # the sample settings: AFR's approver Amara Diallo, the bureau's Nadia Rahman


def results(*ids: str) -> dict[str, pd.DataFrame]:
    rows = [{"result_id": r, "level": "output", "title": f"Result {r}"} for r in ids]
    return {"Results": schema.conform("Results", pd.DataFrame(rows))}


def put(st: Store, quarter: str, *ids: str) -> str:
    kw = dict(file_name="AFR.xlsx", sha256="0" * 64, submitted_by="Ada", ingested_by="ann")
    return st.ingest("AFR", quarter, results(*ids), authority=CFG.authority, **kw).status


@pytest.fixture()
def st(monkeypatch):
    times = iter(f"2026-10-0{d}T09:00:00Z" for d in range(1, 10))
    monkeypatch.setattr(signoff, "_now", lambda: next(times))
    with Store("sqlite://") as store:
        for name, role, units in (
            ("nadia.rahman", "leadership", ()),
            ("amara.diallo", "regional_director", ("AFR",)),
            ("ann", "officer", ("AFR",)),
            ("sofia.marin", "cluster_facilitator", ("CYB",)),
            ("boss", "leadership", ()),
        ):
            add_user(store, name, role, units, TEST_PASSWORD, name.split(".")[0])
        yield store


def user(st: Store, name: str):
    found = get_user(st, name)
    assert found is not None
    return found


def test_sign_in_names_match_the_settings_names():
    assert signoff.sign_in_name("Amara Diallo") == "amara.diallo"
    assert signoff.settings_name(user_of("amara.diallo"), ("Amara Diallo", "Nadia Rahman")) == "Amara Diallo"
    assert signoff.settings_name(user_of("amara"), ("Amara Diallo",)) is None


def user_of(name: str):
    from rbm_utils.store.users import User

    return User(name, "regional_director", ("AFR",))


def test_signed_in_is_the_logins_user_and_by_only_yourself(st, monkeypatch):
    assert signoff.signed_in(st, "amara").name == "amara.diallo"
    assert signoff.signed_in(st, "amara", "Amara Diallo").name == "amara.diallo"
    assert signoff.signed_in(st, "amara", "amara.diallo").name == "amara.diallo"
    with pytest.raises(ApprovalError, match="--by may only name yourself: you are signed in as amara.diallo"):
        signoff.signed_in(st, "amara", "Nadia Rahman")
    with pytest.raises(ApprovalError, match="your login 'mallory' is not an active registered user"):
        signoff.signed_in(st, "mallory")
    sign_in_as(monkeypatch, "ann")
    assert signoff.ingesting_person(st, None) == ("ann", user(st, "ann"))
    with Store("sqlite://") as empty:
        with pytest.raises(ApprovalError, match="no user is registered in this store yet"):
            signoff.signed_in(empty, "amara")
        assert signoff.ingesting_person(empty, "tester") == ("tester", None)  # an old store: as before


def test_approval_needs_the_role_and_the_settings(st):
    put(st, "2026-Q2", "R1")
    with pytest.raises(ApprovalError, match=r"ann \(officer of AFR\) may not approve AFR"):
        signoff.approve_as(st, "AFR", "2026-Q2", user(st, "ann"), CFG)
    with pytest.raises(ApprovalError, match=r"sofia.marin \(cluster_facilitator of CYB\) may not approve AFR"):
        signoff.approve_as(st, "AFR", "2026-Q2", user(st, "sofia.marin"), CFG)
    # leadership by role, but not named in the settings: refused by the settings
    with pytest.raises(ApprovalError, match=r"Only the Regional Director of AFR \(Amara Diallo\) or the Deputy"):
        signoff.approve_as(st, "AFR", "2026-Q2", user(st, "boss"), CFG)
    rec = signoff.approve_as(st, "AFR", "2026-Q2", user(st, "amara.diallo"), CFG)
    assert (rec["approved_by"], rec["user"], rec["state"]) == ("Amara Diallo", "amara.diallo", "approved")


def test_a_bureau_approver_registered_below_leadership_is_refused():
    with Store("sqlite://") as st:
        add_user(st, "nadia.rahman", "regional_director", ("AFR",), TEST_PASSWORD)
        put(st, "2026-Q2", "R1")
        with pytest.raises(
            ApprovalError, match="registered as regional_director; the bureau's approval needs the lead"
        ):
            signoff.approve_as(st, "AFR", "2026-Q2", user(st, "nadia.rahman"), CFG)
        assert st.approvals().empty


def test_escalation_unlock_and_the_audit_trail_name_the_person(st):
    put(st, "2026-Q2", "R1")
    signoff.approve_as(st, "AFR", "2026-Q2", user(st, "amara.diallo"), CFG)
    put(st, "2026-Q3", "R1", "R2")  # a result added: needs the bureau
    assert signoff.approve_as(st, "AFR", "2026-Q3", user(st, "amara.diallo"), CFG)["state"] == "pending"
    bureau = signoff.approve_as(st, "AFR", "2026-Q3", user(st, "nadia.rahman"), CFG)
    assert (bureau["state"], bureau["bureau_approved_by"], bureau["user"]) == (
        "approved",
        "Nadia Rahman",
        "nadia.rahman",
    )
    assert put(st, "2026-Q3", "R1", "R2", "R3") == "locked"

    with pytest.raises(ApprovalError, match="only the bureau's leadership or the Deputy Director may unlock"):
        signoff.unlock(st, "AFR", "2026-Q3", user(st, "amara.diallo"), "typo", CFG)  # the approver herself
    with pytest.raises(ApprovalError, match="nadia.rahman approved AFR 2026-Q3 and may not lift their own"):
        signoff.unlock(st, "AFR", "2026-Q3", user(st, "nadia.rahman"), "typo", CFG)
    with pytest.raises(ApprovalError, match="needs its reason"):
        signoff.unlock(st, "AFR", "2026-Q3", user(st, "boss"), "  ", CFG)
    with pytest.raises(ApprovalError, match="AFR 2026-Q3 is approved too and rests on 2026-Q2; unlock 2026-Q3 first"):
        signoff.unlock(st, "AFR", "2026-Q2", user(st, "boss"), "typo", CFG)
    before = st.dump()
    with pytest.raises(ApprovalError, match="is not approved"):
        signoff.unlock(st, "AFR", "2026-Q4", user(st, "boss"), "typo", CFG)
    assert st.dump() == before

    add_user(st, "lena.bureau", "regional_director", ("EUR",), TEST_PASSWORD)
    bureau_cfg = replace(CFG, authority=replace(CFG.authority, bureau_approvers=("Nadia Rahman", "Lena Bureau")))
    with pytest.raises(ApprovalError, match="only the bureau's leadership may lift the bureau's approval"):
        signoff.unlock(st, "AFR", "2026-Q3", user(st, "lena.bureau"), "typo", bureau_cfg)
    rec = signoff.unlock(st, "AFR", "2026-Q3", user(st, "boss"), "R2 was entered twice", CFG)
    assert rec["unlocked_by"] == "boss" and len(rec["lifted"]) == 2
    assert st.approval_states("2026-Q3", CFG.authority)["state"].tolist() == ["draft"]
    assert put(st, "2026-Q3", "R1", "R2", "R3") == "stored"  # the lock is lifted

    events = approval_events(st.history("AFR")[1])
    assert events[["quarter", "what", "by", "signed in as", "reason"]].values.tolist() == [
        ["2026-Q2", "approved", "Amara Diallo", "amara.diallo", ""],
        ["2026-Q3", "approved", "Amara Diallo", "amara.diallo", ""],
        ["2026-Q3", "approved for the bureau", "Nadia Rahman", "nadia.rahman", ""],
        ["2026-Q3", "unlocked", "boss", "boss", "R2 was entered twice"],
    ]
    assert events["at"].tolist()[-1] == "2026-10-04 09:00"  # the fourth event
