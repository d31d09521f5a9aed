"""Linking a referral to its child's open case, and how a linked case's RAG and due time move."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mash_common.contracts import Concern, Indicator, LinkMatch, Rag, Subject
from mash_hub.services.intake.linking import (
    Block,
    OpenCase,
    block_key,
    find_open_case,
    normalise_name,
    normalise_postcode,
)
from mash_hub.services.intake.logic import triage
from mash_hub.services.intake.policy import load_policy
from tests.support.factories import referral
from tests.unit.intake.support import NOW, nhs_number

WINDOW = timedelta(days=30)
POLICY = load_policy(Path(__file__).resolve().parents[3] / "config" / "threshold-policy.yaml") \
    .with_overrides(red=timedelta(seconds=40), amber=timedelta(seconds=80),
                    green=timedelta(seconds=160), working_hours=False)
NHS_A, NHS_B = nhs_number(123456780), nhs_number(987654320)
CASE = OpenCase(case_id="MASH-OPEN", opened_at=NOW - timedelta(days=2), due_at=NOW + timedelta(hours=1),
                rag=Rag.AMBER, nhs_number=NHS_A, name_key=normalise_name("Sam", "Example"),
                date_of_birth=date(2016, 4, 1), postcode_key="EX11AA", referral_ids=["R0"])


def subject(**overrides: Any) -> Subject:
    fields: dict[str, Any] = dict(given_name="Sam", family_name="Example",
                                  date_of_birth=date(2016, 4, 1), nhs_number=NHS_A, postcode="EX1 1AA")
    return Subject(**{**fields, **overrides})


@pytest.mark.parametrize(("who", "case", "expected"), [
    (subject(), CASE, LinkMatch.NHS_NUMBER),
    (subject(given_name="SAM", family_name="example"), CASE, LinkMatch.NHS_NUMBER),
    (subject(nhs_number=None), CASE, LinkMatch.NAME_DOB_POSTCODE),
    (subject(nhs_number=None, given_name=" sam", family_name="Exámple", postcode="ex11aa"), CASE,
     LinkMatch.NAME_DOB_POSTCODE),
    (subject(nhs_number=None), CASE.model_copy(update={"nhs_number": None}), LinkMatch.NAME_DOB_POSTCODE),
    # A different NHS number is a different child, even with the same name, DOB and postcode.
    (subject(nhs_number=NHS_B), CASE, None),
    (subject(nhs_number=None, postcode="EX2 2BB"), CASE, None),
    (subject(nhs_number=None, postcode=None), CASE, None),
    (subject(nhs_number=None, given_name="Samantha"), CASE, None),
    (subject(nhs_number=None, date_of_birth=date(2016, 4, 2)), CASE, None),
    # Closed: opened longer ago than the window.
    (subject(), CASE.model_copy(update={"opened_at": NOW - WINDOW}), None),
    (subject(), CASE.model_copy(update={"opened_at": NOW - WINDOW + timedelta(seconds=1)}),
     LinkMatch.NHS_NUMBER),
])
def test_find_open_case(who: Subject, case: OpenCase, expected: LinkMatch | None) -> None:
    found = find_open_case(Block(cases=[case]), who, NOW, WINDOW)
    assert (found.match if found else None) is expected


def test_most_recently_opened_case_wins() -> None:
    older = CASE.model_copy(update={"case_id": "OLD", "opened_at": NOW - timedelta(days=9)})
    found = find_open_case(Block(cases=[older, CASE]), subject(), NOW, WINDOW)
    assert found is not None and found.case.case_id == "MASH-OPEN"


@pytest.mark.parametrize(("who", "key"), [
    (subject(), "dob:2016-04-01"),
    (subject(date_of_birth=None), f"nhs:{NHS_A}"),
    (subject(date_of_birth=None, nhs_number=None), "ref:R7"),
])
def test_block_key(who: Subject, key: str) -> None:
    assert block_key(who, "R7") == key


def test_normalisation() -> None:
    assert normalise_name("Zoë", "O'Brien-Smith") == normalise_name("zoe", "obrien smith")
    assert normalise_postcode(" sw1a 1aa ") == "SW1A1AA"


# Triage of a linked referral ----------------------------------------------------------


@pytest.mark.parametrize(("previous_rag", "previous_due", "new", "rag", "due"), [
    # Raised Amber -> Red: due shortens to now + Red's 40 s.
    (Rag.AMBER, NOW + timedelta(hours=1), {"indicators": [Indicator.IMMEDIATE_DANGER]},
     Rag.RED, NOW + timedelta(seconds=40)),
    # Raised, but the old due time is sooner still: keep it.
    (Rag.AMBER, NOW + timedelta(seconds=10), {"indicators": [Indicator.IMMEDIATE_DANGER]},
     Rag.RED, NOW + timedelta(seconds=10)),
    # Not raised (new rating Amber via already-open): the case keeps its RAG and due time.
    (Rag.AMBER, NOW + timedelta(hours=1), {"indicators": []}, Rag.AMBER, NOW + timedelta(hours=1)),
    # A Green-looking referral never lowers a Red case or extends its time.
    (Rag.RED, NOW + timedelta(seconds=5), {"indicators": []}, Rag.RED, NOW + timedelta(seconds=5)),
    # Green -> Amber (already open): raised to Amber, due in Amber's 80 s.
    (Rag.GREEN, NOW + timedelta(hours=50), {"indicators": []}, Rag.AMBER, NOW + timedelta(seconds=80)),
])
def test_linked_case_rag_and_due(previous_rag: Rag, previous_due: Any, new: dict[str, Any],
                                 rag: Rag, due: Any) -> None:
    case = CASE.model_copy(update={"rag": previous_rag, "due_at": previous_due})
    result = triage(referral("R1", subject=subject(), **new), Block(cases=[case]), POLICY,
                    window=WINDOW, now=NOW)
    t = result.triaged
    assert (t.case_id, t.rag, t.due_at, t.opened_at) == ("MASH-OPEN", rag, due, case.opened_at)
    assert t.linked_case is not None and t.linked_case.previous_rag is previous_rag
    assert t.linked_case.match is LinkMatch.NHS_NUMBER
    assert result.block.cases[-1].referral_ids == ["R0", "R1"]
    assert result.block.cases[-1].rag is rag and result.block.cases[-1].due_at == due


def test_new_case_is_opened_with_a_deterministic_reference() -> None:
    first = triage(referral("R1", subject=subject(), concerns=[Concern.NEGLECT, Concern.DOMESTIC_ABUSE]),
                   Block(), POLICY, window=WINDOW, now=NOW)
    again = triage(referral("R1", subject=subject()), Block(), POLICY, window=WINDOW,
                   now=NOW + timedelta(seconds=3))
    t = first.triaged
    assert t.case_id == again.triaged.case_id and t.case_id.startswith("MASH-")
    assert t.linked_case is None and t.opened_at == NOW and t.triaged_at == NOW
    assert t.cin_factor_codes == ["16A", "3B"]
    assert t.policy_version == POLICY.version
    assert [c.case_id for c in first.block.cases] == [t.case_id]
    assert first.notification is not None and again.notification is not None
    assert first.notification.notification_id == again.notification.notification_id


def test_closed_cases_are_pruned_from_state() -> None:
    closed = CASE.model_copy(update={"case_id": "OLD", "opened_at": NOW - WINDOW - timedelta(days=1)})
    result = triage(referral("R1", subject=subject(nhs_number=NHS_B)), Block(cases=[closed]),
                    POLICY, window=WINDOW, now=NOW)
    assert [c.case_id for c in result.block.cases] == [result.triaged.case_id]


# Every script ----------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    (("Иван", "Петров"), ("ИВАН", "петров")),  # Cyrillic case
    (("Фёдор", "Орлов"), ("Федор", "Орлов")),  # ё is printed as е
    (("مُحَمَّد", "علي"), ("محمد", "علي")),  # Arabic short-vowel marks are optional
    (("Νίκος", "Παπαδόπουλος"), ("ΝΙΚΟΣ", "ΠΑΠΑΔΟΠΟΥΛΟΣ")),  # Greek capitals drop the tonos
    (("王伟", "李"), ("王伟", "李")),
    (("ＷＡＮＧ", "Ｌｉ"), ("wang", "li")),  # full-width forms
    (("Siân", "Llŷr"), ("Sian", "Llyr")),  # Welsh circumflex
    (("Seán", "Ó Briain"), ("Sean", "O'Briain")),  # Irish fada, spacing and apostrophe
    (("Niamh", "Mac Giolla Phádraig"), ("NIAMH", "MacGiolla Phadraig")),
])
def test_the_same_name_in_any_script_matches(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert normalise_name(*a) == normalise_name(*b)


@pytest.mark.parametrize(("a", "b"), [
    (("Иван", "Петров"), ("Олег", "Петров")),
    (("Иван", "Петров"), ("Йван", "Петров")),  # й is a letter of its own, not и with a mark
    (("محمد", "علي"), ("أحمد", "علي")),
    (("Γιώργος", "Παππάς"), ("Νίκος", "Παππάς")),
    (("王伟", "李"), ("王芳", "李")),
    (("伟", "李"), ("", "李")),
    (("Dafydd", "Jones"), ("Dafydd", "Jônes-Evans")),
    (("Aoife", "Ní Bhriain"), ("Aoibhe", "Ní Bhriain")),
    (("Sam", "Example"), ("Sam", "Exampel")),
])
def test_different_names_in_any_script_stay_different(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert normalise_name(*a) != normalise_name(*b)


def test_no_script_is_folded_away() -> None:
    # The old fold kept ASCII letters only: every name below became the same empty key.
    keys = {normalise_name(g, f) for g, f in [("Иван", "Петров"), ("Олег", "Петров"),
                                              ("محمد", "علي"), ("王伟", "李"), ("Νίκος", "Ξ")]}
    assert len(keys) == 5 and all(k.replace("|", "") for k in keys)


@pytest.mark.parametrize(("twin_a", "twin_b"), [
    (("Amir", "Hassan"), ("Omar", "Hassan")),
    (("Аня", "Смирнова"), ("Оля", "Смирнова")),
    (("أمير", "حسن"), ("عمر", "حسن")),
    (("Σοφία", "Ιωάννου"), ("Μαρία", "Ιωάννου")),
    (("李明", "王"), ("李亮", "王")),
    (("Gwen", "Pritchard"), ("Gwyn", "Pritchard")),
])
def test_twins_are_two_children(twin_a: tuple[str, str], twin_b: tuple[str, str]) -> None:
    # Same date of birth, same postcode, no NHS numbers: only the name tells twins apart.
    first = subject(given_name=twin_a[0], family_name=twin_a[1], nhs_number=None)
    second = subject(given_name=twin_b[0], family_name=twin_b[1], nhs_number=None)
    opened = triage(referral("T1", subject=first), Block(), POLICY, window=WINDOW, now=NOW)
    again = triage(referral("T2", subject=second), opened.block, POLICY, window=WINDOW, now=NOW)
    assert again.match is None and again.triaged.case_id != opened.triaged.case_id
    assert len(again.block.cases) == 2
    # The same twin referred again joins their own case.
    third = triage(referral("T3", subject=first), again.block, POLICY, window=WINDOW, now=NOW)
    assert third.match is not None and third.triaged.case_id == opened.triaged.case_id


def test_case_ids_carry_100_bits_in_base32() -> None:
    from mash_hub.services.intake.logic import CASE_ID_BITS, case_reference
    ids = {case_reference(f"REF-{i}") for i in range(20000)}
    assert len(ids) == 20000 and CASE_ID_BITS == 100
    sample = case_reference("REF-1")
    assert len(sample) == len("MASH-") + 4 * 5 + 3 and sample == case_reference("REF-1")
    assert set(sample[5:].replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_cases_past_the_link_window_are_what_retention_removes() -> None:
    from datetime import UTC, datetime, timedelta

    from mash_common.contracts import Rag
    from mash_hub.services.intake.linking import Block, OpenCase

    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    window = timedelta(days=30)

    def case(case_id: str, age_days: float) -> OpenCase:
        opened = now - timedelta(days=age_days)
        return OpenCase(case_id=case_id, opened_at=opened, due_at=opened, rag=Rag.GREEN,
                        name_key="sam|example", referral_ids=[f"R-{case_id}"])

    block = Block(cases=[case("old", 31), case("edge", 30), case("new", 29)])
    assert [c.case_id for c in block.expired(now, window)] == ["old", "edge"]
    assert [c.case_id for c in block.prune(now, window).cases] == ["new"]
