"""The information governance table: who may be asked what, give what and learn what.

Generated from the shipped configuration (hub.yaml, sharing-agreement.yaml,
recipient-policy.yaml) so the table the hub's information governance lead reads is the one
the services run on. `python -m mash_hub.services.governance --write` rewrites docs/governance.md;
`--check` (and tests/unit/test_governance.py) fail when the file and the config disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mash_common.contracts import ConsentRule, NotificationKind, Rag
from mash_common.hubconfig import HubConfig, default_config_dir, load_hub_config
from mash_common.recipients import RecipientPolicy, Shareable, load_recipient_policy
from mash_hub.services.enrichment.agreement import SharingAgreement, load_agreement

DOC = Path(__file__).resolve().parents[1] / "docs" / "governance.md"

_RULE_WORDS = {
    ConsentRule.NOT_REQUIRED: "not required",
    ConsentRule.REQUIRED: "consent required",
    ConsentRule.OVERRIDE_ALLOWED: "consent, or a recorded override",
}


def _fields(fields: frozenset[Shareable]) -> str:
    return ", ".join(sorted(f.value for f in fields)) or "(that it happened, nothing more)"


def render(hub: HubConfig, agreement: SharingAgreement, recipients: RecipientPolicy) -> str:
    out = [
        "# Information governance: who may be asked what, give what, learn what",
        "",
        "Generated from config/hub.yaml, config/sharing-agreement.yaml and",
        "config/recipient-policy.yaml by `python -m mash_hub.services.governance --write`; a unit test",
        "fails if this file and the configuration disagree. Edit the configuration, not this.",
        "The reasons for each rule are the comments in config/sharing-agreement.yaml.",
        "",
        f"Sharing agreement version: `{agreement.version}`. Recipient policy version: "
        f"`{recipients.version}`.",
        "",
        "## Asked: what each agency may be asked for, per RAG and data category",
        "",
        "An agency is sent only the identifiers listed for it. A category absent from a RAG is "
        "never asked at that RAG. A request carries each category's legal basis, purpose and "
        "consent rule; its REQUEST_SENT audit records them with the case's consent state and, "
        "for an override, its reason and authoriser.",
        "",
        "| agency | identifiers sent | RAG | data category | consent | legal basis |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for agency in sorted(agreement.agencies):
        terms = agreement.agencies[agency]
        ids = ", ".join(terms.identifiers)
        for rag in Rag:
            listed = terms.terms(rag)
            if not listed:
                out.append(f"| {agency} | {ids} | {rag.value} | (not asked) | | |")
            for t in listed:
                out.append(f"| {agency} | {ids} | {rag.value} | {t.category} | "
                           f"{_RULE_WORDS[t.consent_rule]} | {t.legal_basis} |")
    allowed = ", ".join(k.value for k in agreement.consent_overrides.allowed_from) or "nobody"
    systems = ", ".join(sorted(s for s, e in hub.source_systems.items()
                               if e.kind in agreement.consent_overrides.allowed_from)) or "none"
    out += [
        "",
        f"A child-protection override of consent is accepted only from sender kinds: {allowed} "
        f"(in this hub's roster: {systems}), with a reason and an authoriser. From anyone else "
        "it unlocks nothing and is audited CONSENT_OVERRIDE_IGNORED. A later referral that "
        "refuses consent withdraws the pending requests that rested on consent or an override "
        "(REQUEST_WITHDRAWN); an answer to a withdrawn request is not disclosed "
        "(RESPONSE_AFTER_WITHDRAWAL).",
        "",
        "## Give: what each agency's answer may contain",
        "",
        "Exactly the categories its request carried. A record in any other category is not "
        "stored, assembled or disclosed; it is audited EXCESS_DISCLOSURE (agency and category, "
        "never content) and counted in `mash_enrichment_excess_records_total{agency}`.",
        "",
        "## Learn: what each kind of recipient is told",
        "",
        "Each system hears on its own topic: a source system as the referrer, an agency's "
        "adapter as a contributor, even when one organisation runs both.",
        "",
        "| recipient kind | systems in this hub | hears | RECEIVED | REJECTED | "
        "INFORMATION_GATHERED | DECISION as referrer | DECISION as contributor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    kinds = sorted({*recipients.kinds, *(e.kind for e in hub.source_systems.values()),
                    *(e.kind for e in hub.agencies.values())}, key=lambda k: k.value)
    for kind in kinds:
        rule = recipients.rule_for(kind)
        members = sorted([s for s, e in hub.source_systems.items() if e.kind is kind]
                         + [a for a, e in hub.agencies.items() if e.kind is kind])
        hears = ", ".join(k.value for k in NotificationKind if rule.hears_of(k))
        cells = [
            _fields(fields) if rule.hears_of(kind_) else "(not sent)"
            for kind_, fields in (
                (NotificationKind.RECEIVED, rule.received),
                (NotificationKind.REJECTED, rule.rejected),
                (NotificationKind.INFORMATION_GATHERED, rule.information_gathered),
                (NotificationKind.DECISION, rule.decision_as_referrer),
                (NotificationKind.DECISION, rule.decision_as_contributor),
            )
        ]
        out.append(f"| {kind.value} | {', '.join(members) or '-'} | {hears} | "
                   + " | ".join(cells) + " |")
    out += [
        "",
        "Without `case_reference` a notification carries no case id and is keyed by the "
        "referral id: a case id, a linked case, and the RAG and due time a case inherits all "
        "tell the recipient whether the child was already known to the hub.",
        "",
    ]
    return "\n".join(out)


def render_shipped(config_dir: Path | None = None) -> str:
    config = config_dir or default_config_dir()
    hub = load_hub_config(config / "hub.yaml")
    return render(hub, load_agreement(config / "sharing-agreement.yaml", hub),
                  load_recipient_policy(config / "recipient-policy.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC.name}")
    parser.add_argument("--check", action="store_true", help=f"fail if {DOC.name} is stale")
    args = parser.parse_args(argv)
    text = render_shipped()
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            sys.stderr.write(f"{DOC} is out of date: python -m mash_hub.services.governance --write\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
