"""The evidence rule's precedence, field by field, and the evidence kept for each decision.

Small tables copy the fields of real records (ids kept) so each rule is seen
alone; the last tests read the same records from the bundled archive.
"""

from __future__ import annotations

import pandas as pd
import pytest

from trialmap.studyset import classify, intervention_evidence, select
from trialmap.studyset.rule import condition_key, learned_mesh
from trialmap.tables import Tables


def study(nct, title, *, official=None, conditions=(), keywords=(), mesh=(), ancestors=(),
          interventions=(("BIOLOGICAL", "Mesenchymal stem cells", None, None),), study_type="INTERVENTIONAL"):
    """One study as canonical tables; mesh/ancestors as (id, term) pairs."""
    cond = (
        [(nct, "condition", c, None) for c in conditions]
        + [(nct, "keyword", k, None) for k in keywords]
        + [(nct, "mesh", t, m) for m, t in mesh]
        + [(nct, "mesh_ancestor", t, m) for m, t in ancestors]
    )
    return {
        "studies": [{"nct_id": nct, "title": title, "official_title": official, "study_type": study_type}],
        "sites": [{"nct_id": nct, "site_no": 0, "country": "France", "iso3": "FRA"}],
        "conditions": [dict(zip(["nct_id", "source", "term", "mesh_id"], c, strict=True)) for c in cond],
        "interventions": [{"nct_id": nct, "type": t, "name": n, "description": d, "other_names": o}
                          for t, n, d, o in interventions],
    }


def tables(*studies) -> Tables:
    frames = {k: pd.DataFrame([r for s in studies for r in s[k]]) for k in
              ("studies", "sites", "conditions", "interventions")}
    for k, f in frames.items():
        if f.empty:
            frames[k] = pd.DataFrame(columns=["nct_id"])
    return Tables.from_frames(**frames)


def counted(t: Tables, definition) -> dict[str, set[str]]:
    c = classify(t, definition)
    c = c[c["counts"]]
    return {n: set(g["category"]) for n, g in c.groupby("nct_id")}


def test_title_naming_a_category_counts_when_mesh_names_only_the_malignancy(definition):
    # NCT02270307: conditions Leukemia | Multiple Myeloma, MeSH Multiple Myeloma only.
    t = tables(study("NCT02270307", "MSC and Cyclophosphamide for Graft-Versus-Host Disease Prophylaxis",
                     conditions=["Leukemia", "Multiple Myeloma"], mesh=[("D000009101", "Multiple Myeloma")]))
    assert counted(t, definition) == {"NCT02270307": {"gvhd"}}
    row = classify(t, definition).iloc[0]
    assert row["matched_by"] == "title" and "Graft-Versus-Host" in row["match"]


def test_condition_naming_a_category_counts_when_mesh_says_only_fistula(definition):
    # NCT03209700: "Crohn's Perianal Fistula" among the conditions; MeSH: Rectal Fistula, Fistula.
    t = tables(study("NCT03209700", "Re-treatment of MSC-AFP in Patients With Perianal Fistulas",
                     conditions=["Perianal Fistula", "Crohn's Perianal Fistula"],
                     mesh=[("D000005402", "Fistula")]))
    c = classify(t, definition)
    assert c.loc[c["counts"], "category"].tolist() == ["ibd"]
    assert c.iloc[0]["matched_by"] == "condition" and c.iloc[0]["match"] == "Crohn's Perianal Fistula"


def test_registry_spellings_are_keywords(definition):
    spellings = {
        "Dermatitis, Atopic": "inflammatory_skin", "Spondylitis, Ankylosing": "rheumatic_autoimmune",
        "Respiratory Distress Syndrome, Adult": "ards_lung_injury",
        "Adult Respiratory Distress Syndrome": "ards_lung_injury",
        "Diabetes Mellitus, Insulin-Dependent": "type1_diabetes", "Type1 Diabetes Mellitus": "type1_diabetes",
        "Type1diabetes": "type1_diabetes", "Acute GVH Disease": "gvhd",
        "Steroid-resistant Severe aGVHD": "gvhd",
        "Graft -Versus-host-disease": "gvhd", "Coronavirus Infection": "covid19",
        "Severe Acute Respiratory Syndrome Coronavirus 2": "covid19", "Sars-CoV2": "covid19",
        "Glomerulonephritis , IGA": "iga_nephropathy", "Primary Biliary Cirrhosis": "autoimmune_liver",
        "Polymyositis": "inflammatory_myopathy", "Pancreatitis, Acute": "acute_pancreatitis",
    }
    rows = [study(f"NCT9{i:07d}", "A study", conditions=[c]) for i, c in enumerate(spellings)]
    got = counted(tables(*rows), definition)
    for i, (text, cat) in enumerate(spellings.items()):
        assert cat in got.get(f"NCT9{i:07d}", set()), text


def test_a_comorbidity_is_set_aside_even_when_the_title_names_it(definition):
    # NCT03361631: erectile dysfunction in type 1 diabetics; the title names both.
    t = tables(study(
        "NCT03361631", "Intracavernous Injection of Autologous Mesenchymal Stem Cells in the Treatment of "
        "Erectile Dysfunction Resistant to Oral Treatment in Patients With Type I Diabetes",
        conditions=["Erectile Dysfunction", "Stem Cells", "Diabetes Mellitus, Type 1"],
        mesh=[("D000007172", "Erectile Dysfunction"), ("D000003922", "Diabetes Mellitus, Type 1")],
        ancestors=[("D000001327", "Autoimmune Diseases")]))
    c = classify(t, definition).set_index("category")
    assert not c["counts"].any()
    assert "Erectile" in c.at["type1_diabetes", "note"]
    # The Autoimmune Diseases ancestor does not bring it back in through the fallback category.
    assert "other_autoimmune" not in counted(t, definition).get("NCT03361631", set())
    log, _ = select(t, definition)
    assert log.iloc[0]["step"] == "in_scope" and "Erectile" in log.iloc[0]["reason"]


def test_mesh_alone_is_not_enough_when_the_conditions_name_a_disease_outside_scope(definition):
    # NCT02290041: MeSH Viremia, whose ancestors reach Sepsis; the conditions name HIV.
    hiv = study("NCT02290041", "Treatment With MSC in HIV-infected Patients With Controlled Viremia",
                conditions=["Discordant Immunological Response in HIV Infected Subjects"],
                mesh=[("D000014766", "Viremia")], ancestors=[("D000018805", "Sepsis")])
    # The same MeSH with nothing outside scope named does count.
    plain = study("NCT90000001", "MSC in bloodstream infection", conditions=["Bloodstream infection"],
                  mesh=[("D000014766", "Viremia")], ancestors=[("D000018805", "Sepsis")])
    got = counted(tables(hiv, plain), definition)
    assert "NCT02290041" not in got and got["NCT90000001"] == {"sepsis"}
    c = classify(tables(hiv), definition).iloc[0]
    assert c["note"].startswith("MeSH evidence only") and "HIV" in c["note"] and "Sepsis" in c["note"]


def test_mesh_on_a_switched_off_category_text_is_not_enough(definition):
    # NCT05147675: osteoarthritis of the spine; MeSH Spondylarthritis (a rheumatic term).
    t = tables(study("NCT05147675", "Safety of Cultured Allogeneic Umbilical Cord Derived MSCs for OA",
                     conditions=["Osteoarthritis", "Spinal Arthritis"],
                     mesh=[("D000025241", "Spondylarthritis")]))
    assert counted(t, definition) == {}


def test_the_keyword_list_alone_never_decides(definition):
    # NCT01314092: complex perianal fistula; only a keyword says Crohn's disease.
    t = tables(study("NCT01314092", "Autologous Cultured Adipose-derived Stem Cells on Complex Fistula",
                     conditions=["Complex Perianal Fistula"], keywords=["crohn's disease", "fistula"],
                     mesh=[("D000005402", "Fistula")]))
    c = classify(t, definition)
    assert not c["counts"].any() and c.iloc[0]["matched_by"] == "keyword"


def test_a_category_named_only_to_be_excluded_does_not_count(definition):
    # NCT01803347: "... Perianal Fistulizing Disease in Patients Without IBD".
    t = tables(study("NCT01803347", "Clinical Trial to Evaluate the Efficacy and Safety of Stem Cells",
                     official="ASC for Complex Perianal Fistulizing Disease in Patients Without IBD.",
                     conditions=["Anal Fistula"]))
    assert counted(t, definition) == {}


def test_not_if_of_one_category(definition):
    # NCT04522869: liver cirrhosis of biliary atresia, registered as "Primary Biliary Cirrhosis".
    t = tables(study("NCT04522869", "UC-MSC Transplantation for Children Suffering From Biliary Atresia",
                     conditions=["Primary Biliary Cirrhosis"]))
    c = classify(t, definition)
    assert c["category"].tolist() == ["autoimmune_liver"] and not c["counts"].any()


def test_every_decision_keeps_its_evidence_by_field(definition):
    t = tables(study("NCT04179760", "Safety and Efficacy of SCM-AGH in Moderate to Severe Atopic Dermatitis",
                     conditions=["Dermatitis, Atopic"],
                     mesh=[("D000003876", "Dermatitis, Atopic")], keywords=["eczema"]))
    row = classify(t, definition).iloc[0]
    assert row["matched_by"] == "title"
    for part in ("title: Safety and Efficacy of SCM-AGH", "condition: Dermatitis, Atopic",
                 "mesh: D000003876 Dermatitis, Atopic", "keyword: eczema"):
        assert part in row["evidence"]


def test_a_source_without_mesh_gets_mesh_from_the_learned_condition_table():
    assert condition_key("Crohn's Disease") == "crohn s disease"
    assert condition_key("Dermatitis,  ATOPIC") == "dermatitis atopic"
    terms = ["COVID-19 Pneumonia", "Evidence of Liver Transplantation"]
    cond = pd.DataFrame({"nct_id": ["A", "B"], "source": "condition", "term": terms}).astype("string")
    got = learned_mesh(cond)
    a = got[got["nct_id"] == "A"]
    assert {"D000086382", "D000011014"} <= set(a.loc[a["source"] == "condition_mesh", "mesh_id"])
    assert "D000008171" in set(a.loc[a["source"] == "condition_mesh_ancestor", "mesh_id"])  # Lung Diseases
    # Seen once as the only condition of a type 1 diabetes trial (NCT01157403), sharing no word
    # with "Diabetes Mellitus, Type 1": not tied.
    assert got[got["nct_id"] == "B"].empty


def test_intervention_rule_both_ways(definition):
    t = tables(
        # title names MSCs, the only intervention is stromal vascular fraction (NCT02975960)
        study("NCT02975960", "ADMSCs for the Treatment of Systemic Sclerosis",
              interventions=[("BIOLOGICAL", "autologous stromal vascular fraction", None, None)]),
        # a description naming MSCs does not make bone marrow aspirate concentrate MSCs (NCT05193877)
        study("NCT05193877", "Autologous Bone Marrow Aspirate Concentrate Injection",
              interventions=[("PROCEDURE", "autologous bone marrow aspirate concentrate by centrifugation",
                              "Bone marrow aspirate concentrate, a source of mesenchymal stem cells",
                              None)]),
        # products named by code only, as a website CSV gives them (no descriptions)
        study("NCT04896853", "Respiratory Complications Associated With COVID-19 Using ProTrans®",
              interventions=[("BIOLOGICAL", "ProTrans®", None, None)]),
        study("NCT04956744", "A Study of IMS001 in Subjects With Multiple Sclerosis",
              interventions=[("BIOLOGICAL", "IMS001", None, None)]),
        # mitochondria taken from MSCs (NCT04976140), MSCs kept in a device (NCT04445220)
        study("NCT04976140", "PN-101 in Refractory Polymyositis", interventions=[
            ("BIOLOGICAL", "PN-101", "human umbilical cord mesenchymal stem cell (UC-MSC) derived allogeneic "
             "mitochondria", None)]),
        study("NCT04445220", "Cell Therapy in COVID-19 Subjects With Acute Kidney Injury", interventions=[
            ("COMBINATION_PRODUCT", "SBI-101", "combines allogeneic human mesenchymal stromal cells (MSCs) "
             "and an FDA-approved plasmapheresis device", None)]),
        # a title naming MSCs on a drug trial (NCT02442817)
        study("NCT02442817", "Linagliptin and Mesenchymal Stem Cells: A Pilot Study",
              interventions=[("DRUG", "Linagliptin", None, None)]),
    )
    ev = intervention_evidence(t, definition).set_index("nct_id")
    assert ev["confirmed"].to_dict() == {
        "NCT02975960": False, "NCT05193877": False, "NCT04896853": True, "NCT04956744": True,
        "NCT04976140": False, "NCT04445220": False, "NCT02442817": False,
    }
    assert ev.at["NCT02975960", "reason"].startswith("another cell product, not MSC")
    assert ev.at["NCT04976140", "reason"].startswith("cell-free derivative of MSC only")
    assert ev.at["NCT04896853", "field"] == "intervention"


@pytest.mark.parametrize(("nct", "step"), [
    ("NCT02270307", "included"), ("NCT03209700", "included"), ("NCT03361631", "in_scope"),
    ("NCT02290041", "in_scope"), ("NCT05147675", "in_scope"), ("NCT01314092", "in_scope"),
    ("NCT01803347", "in_scope"), ("NCT04522869", "in_scope"), ("NCT02975960", "intervention_confirmed"),
    ("NCT04445220", "intervention_confirmed"), ("NCT04976140", "intervention_confirmed"),
])
def test_the_same_records_in_the_bundled_archive(result, nct, step):
    log = result.inclusion_log.set_index("nct_id")
    assert log.at[nct, "step"] == step, log.at[nct, "reason"]
