"""The agency adapter SDK: write one handler, the SDK does the Kafka side of the contract.

    from mash_sdk import Adapter, AdapterSettings, Answer

    def handle(request: InformationRequest) -> Answer:
        return Answer.not_known()

    Adapter(AdapterSettings(agency="police"), handle).run()

Depends on mash_common's contracts, serde, settings and topics only; never on the services.
"""

from mash_sdk.answer import Answer, Handler
from mash_sdk.errors import AdapterError, DropRequest, SdkError, TransientError
from mash_sdk.runtime import Adapter
from mash_sdk.settings import AdapterSettings

__all__ = [
    "Adapter",
    "AdapterError",
    "AdapterSettings",
    "Answer",
    "DropRequest",
    "Handler",
    "SdkError",
    "TransientError",
]
