"""The recipient policy, as routing uses it; its home is mash_common.recipients (intake uses it too)."""

from mash_common.recipients import KindRule, RecipientPolicy, Role, Shareable, load_recipient_policy

__all__ = ["KindRule", "RecipientPolicy", "Role", "Shareable", "load_recipient_policy"]
