"""The decode floor's types: msgspec Structs of only the fields the pipeline reads.

Kept apart (and without ``from __future__ import annotations``, which msgspec cannot
resolve for these names) so that ``trialmap.bench.pipeline`` imports without msgspec.
"""

import msgspec
from msgspec import Struct, field


class Date(Struct):
    date: str | None = None


class Ident(Struct):
    nctId: str | None = None
    briefTitle: str | None = None
    officialTitle: str | None = None


class Status(Struct):
    overallStatus: str | None = None
    startDateStruct: Date | None = None
    studyFirstPostDateStruct: Date | None = None
    lastUpdatePostDateStruct: Date | None = None


class Enroll(Struct):
    count: float | None = None  # accepts JSON integers
    type: str | None = None


class Design(Struct):
    studyType: str | None = None
    phases: list[str] | None = None
    enrollmentInfo: Enroll | None = None


class Sponsor(Struct):
    name: str | None = None
    class_: str | None = field(default=None, name="class")


class SponsorMod(Struct):
    leadSponsor: Sponsor | None = None


class Conditions(Struct):
    conditions: list[str] | None = None
    keywords: list[str] | None = None


class Intervention(Struct):
    type: str | None = None
    name: str | None = None
    description: str | None = None
    otherNames: list[str] | None = None


class Arms(Struct):
    interventions: list[Intervention] | None = None


class Geo(Struct):
    lat: float | None = None
    lon: float | None = None


class Location(Struct):
    facility: str | None = None
    status: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    geoPoint: Geo | None = None


class Contacts(Struct):
    locations: list[Location] | None = None


class Protocol(Struct):
    identificationModule: Ident | None = None
    statusModule: Status | None = None
    designModule: Design | None = None
    sponsorCollaboratorsModule: SponsorMod | None = None
    conditionsModule: Conditions | None = None
    armsInterventionsModule: Arms | None = None
    contactsLocationsModule: Contacts | None = None


class Mesh(Struct):
    id: str | None = None
    term: str | None = None


class Browse(Struct):
    meshes: list[Mesh] | None = None
    ancestors: list[Mesh] | None = None


class Misc(Struct):
    versionHolder: str | None = None
    removedCountries: list[str] | None = None


class Derived(Struct):
    miscInfoModule: Misc | None = None
    conditionBrowseModule: Browse | None = None


class Study(Struct):
    protocolSection: Protocol | None = None
    derivedSection: Derived | None = None


class Page(Struct):
    studies: list[Study]


def decoder() -> msgspec.json.Decoder:
    return msgspec.json.Decoder(Page)
