"""Simulated agencies for the demo and the tests: synthetic records, tunable misbehaviour.

    hub = run_agencies(kafka_settings, agencies=["police", "health"], profile="realistic")
    hub.wait_ready()
    ...
    hub.stop()

CLI: `mash-simulated-agencies --agencies police,health --profile realistic`.
"""

from mash_sdk.simulated.agency import (
    PROFILES,
    SIX_AGENCIES,
    Behaviour,
    Latency,
    Profile,
    SimulatedAgencies,
    SimulatedAgency,
    build_agencies,
    run_agencies,
)
from mash_sdk.simulated.population import AGENCY_CATEGORIES, AgencyKnowledge, Person, population

__all__ = [
    "AGENCY_CATEGORIES",
    "PROFILES",
    "SIX_AGENCIES",
    "AgencyKnowledge",
    "Behaviour",
    "Latency",
    "Person",
    "Profile",
    "SimulatedAgencies",
    "SimulatedAgency",
    "build_agencies",
    "population",
    "run_agencies",
]
