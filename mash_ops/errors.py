"""The error tree of mash_ops, rooted in mash_common's MashError."""

from __future__ import annotations

from mash_common.errors import MashError


class OpsError(MashError):
    """Root of every error the operations tooling raises on purpose."""


class BrokerUnavailableError(OpsError):
    """The cluster could not be reached or did not answer in time."""


class NotFoundError(OpsError):
    """The dead letter (or other record) asked for is not on its topic."""


class AlreadyReplayedError(OpsError):
    """The dead letter was replayed before; replaying again needs --force."""


class ScrapeError(OpsError):
    """A Prometheus endpoint could not be fetched or parsed."""
