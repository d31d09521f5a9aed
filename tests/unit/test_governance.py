"""docs/governance.md is what the shipped configuration says."""

from __future__ import annotations

from mash_hub.services.governance import DOC, main, render_shipped


def test_the_governance_table_matches_the_shipped_config() -> None:
    assert DOC.read_text(encoding="utf-8") == render_shipped(), \
        "run: python -m mash_hub.services.governance --write"
    assert main(["--check"]) == 0


def test_the_table_says_what_the_public_learns() -> None:
    text = render_shipped()
    [public] = [line for line in text.splitlines() if line.startswith("| MEMBER_OF_PUBLIC |")]
    assert "case_reference" not in public and "rag" not in public and "INFORMATION_GATHERED" not in public
    assert "| police | given_name" in text and "consent, or a recorded override" in text
