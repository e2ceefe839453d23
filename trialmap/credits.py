"""Data credits printed on figures and in outputs, written once."""

CTGOV_CREDIT = "ClinicalTrials.gov (U.S. National Library of Medicine)"
NE_CREDIT = "Natural Earth (public domain)"
