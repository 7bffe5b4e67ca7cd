"""EN 16931 code list rules BR-CL-* (``Codesmodel`` pattern) and BR-CL-08 (note subject codes)."""

from __future__ import annotations

from collections.abc import Iterator

from ublexport.rules import codes
from ublexport.rules._doc import (
    AMOUNT_TAGS,
    T_ALLOWANCE_CHARGE,
    T_ID,
    Doc,
    Element,
    cac,
    cbc,
    children,
    is_charge,
    norm,
    string,
)
from ublexport.rules.registry import rule


def in_list(value: str | None, allowed: frozenset[str]) -> bool:
    """``not(contains(normalize-space(v), ' ')) and contains(' LIST ', concat(' ', normalize-space(v), ' '))``."""
    if value in allowed:  # the common case; a listed code has no space, so normalising it changes nothing
        return True
    v = norm(value or "")
    return " " not in v and v in allowed


def listed(el: Element, allowed: frozenset[str]) -> bool:
    """in_list(string(el), allowed), without a call for the common case of a leaf holding a listed code."""
    text = el.text
    if text in allowed and len(el) == 0:
        return True
    return in_list(string(el), allowed)


def _all_listed(elements: list[Element], allowed: frozenset[str]) -> bool:
    """Every element is a leaf holding a listed code: then none of them breaks a code list rule, whatever order
    the rule reports them in (the cheap answer for a valid document, before walking the rule's own order)."""
    for el in elements:  # noqa: SIM110  (a plain loop: all() over a generator costs more)
        if el.text not in allowed or len(el):
            return False
    return True


@rule(
    "BR-CL-01",
    "fatal",
    "The document type code MUST be coded by the invoice and credit note related code lists of UNTDID 1001.",
    needs=(cbc.InvoiceTypeCode, cbc.CreditNoteTypeCode),
)
def br_cl_01(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.InvoiceTypeCode):
        if not listed(el, codes.UNTDID1001_INVOICE):
            yield el
    for el in doc.all(cbc.CreditNoteTypeCode):
        if not listed(el, codes.UNTDID1001_CREDITNOTE):
            yield el


@rule("BR-CL-03", "fatal", "currencyID MUST be coded using ISO code list 4217 alpha-3")
def br_cl_03(doc: Doc) -> Iterator[Element]:
    if codes.ISO4217.issuperset(doc.amount_currencies):
        return
    for tag in AMOUNT_TAGS:
        values = doc.attribute_values(tag, "currencyID")
        if codes.ISO4217.issuperset(values):  # each value is a code as it stands, so in_list holds for each
            continue
        for el, value in zip(doc.all(tag), values, strict=True):
            if not in_list(value, codes.ISO4217):
                yield el


@rule(
    "BR-CL-04",
    "fatal",
    "Invoice currency code MUST be coded using ISO code list 4217 alpha-3",
    needs=(cbc.DocumentCurrencyCode,),
)
def br_cl_04(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.DocumentCurrencyCode):
        if not listed(el, codes.ISO4217):
            yield el


@rule(
    "BR-CL-05",
    "fatal",
    "Tax currency code MUST be coded using ISO code list 4217 alpha-3",
    needs=(cbc.TaxCurrencyCode,),
)
def br_cl_05(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.TaxCurrencyCode):
        if not listed(el, codes.ISO4217):
            yield el


@rule(
    "BR-CL-06",
    "fatal",
    "Value added tax point date code MUST be coded using a restriction of UNTDID 2005.",
    needs=(cbc.DescriptionCode,),
)
def br_cl_06(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.DescriptionCode, cac.InvoicePeriod):
        if not listed(el, codes.UNTDID2005):
            yield el


@rule(
    "BR-CL-07",
    "fatal",
    "Object identifier identification scheme identifier MUST be coded using a restriction of UNTDID 1153.",
    needs=(T_ID,),
)
def br_cl_07(doc: Doc) -> Iterator[Element]:
    in_additional = doc.under(T_ID, cac.AdditionalDocumentReference)
    in_reference = doc.under(T_ID, cac.DocumentReference)
    if in_additional and in_reference:
        candidates = doc.in_document_order(in_additional + in_reference)
    else:
        candidates = in_additional or in_reference
    for el in candidates:
        scheme = el.get("schemeID")
        if scheme is None:
            continue
        ref = el.getparent()
        if not any(string(c) == "130" for c in children(ref, cbc.DocumentTypeCode)):
            continue
        if not in_list(scheme, codes.UNTDID1153):
            yield el


@rule("BR-CL-08", "fatal", "Invoiced note subject code shall be coded using UNCL4451", needs=(cbc.Note,))
def br_cl_08(doc: Doc) -> Iterator[Element]:
    for note in doc.tops(cbc.Note):
        text = string(note)
        if "#" not in text:
            continue
        after = text.split("#", 1)[1]
        code = after.split("#", 1)[0] if "#" in after else ""
        if len(code) == 3 and code not in codes.UNCL4451_STRING:
            yield note


@rule(
    "BR-CL-10",
    "fatal",
    "Any identifier identification scheme identifier MUST be coded using one of the ISO 6523 ICD list.",
    needs=(T_ID,),
)
def br_cl_10(doc: Doc) -> Iterator[Element]:
    for el in doc.under(T_ID, cac.PartyIdentification):
        scheme = el.get("schemeID")
        if scheme is None:
            continue
        if in_list(scheme, codes.ICD):
            continue
        if norm(scheme) == "SEPA" and any(
            a.tag in (cac.AccountingSupplierParty, cac.PayeeParty) for a in el.iterancestors()
        ):
            continue
        yield el


@rule(
    "BR-CL-11",
    "fatal",
    "Any registration identifier identification scheme identifier MUST be coded using one of the ISO 6523 ICD list.",
    needs=(cbc.CompanyID,),
)
def br_cl_11(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.CompanyID, cac.PartyLegalEntity):
        scheme = el.get("schemeID")
        if scheme is not None and not in_list(scheme, codes.ICD):
            yield el


@rule(
    "BR-CL-13",
    "fatal",
    "Item classification identifier identification scheme identifier MUST be coded using one of the UNTDID 7143 list.",
    needs=(cbc.ItemClassificationCode,),
)
def br_cl_13(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.ItemClassificationCode, cac.CommodityClassification):
        list_id = el.get("listID")
        if list_id is not None and not in_list(list_id, codes.UNTDID7143):
            yield el


@rule(
    "BR-CL-14",
    "fatal",
    "Country codes in an invoice MUST be coded using ISO code list 3166-1",
    needs=(cbc.IdentificationCode,),
)
def br_cl_14(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.IdentificationCode, cac.Country):
        if not listed(el, codes.ISO3166):
            yield el


@rule(
    "BR-CL-15",
    "fatal",
    "Country codes in an invoice MUST be coded using ISO code list 3166-1",
    needs=(cbc.IdentificationCode,),
)
def br_cl_15(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.IdentificationCode, cac.OriginCountry):
        if not listed(el, codes.ISO3166):
            yield el


@rule(
    "BR-CL-16",
    "fatal",
    "Payment means in an invoice MUST be coded using UNCL4461 code list",
    needs=(cbc.PaymentMeansCode,),
)
def br_cl_16(doc: Doc) -> Iterator[Element]:
    for el in doc.under(cbc.PaymentMeansCode, cac.PaymentMeans):
        if not listed(el, codes.UNCL4461):
            yield el


@rule("BR-CL-17", "fatal", "Invoice tax categories MUST be coded using UNCL5305 code list", needs=(cac.TaxCategory,))
def br_cl_17(doc: Doc) -> Iterator[Element]:
    if _all_listed(doc.under(T_ID, cac.TaxCategory), codes.UNCL5305):  # the same cbc:IDs, in document order
        return
    for cat in doc.all(cac.TaxCategory):
        for el in children(cat, T_ID):
            if not listed(el, codes.UNCL5305):
                yield el


@rule(
    "BR-CL-18",
    "fatal",
    "Invoice tax categories MUST be coded using UNCL5305 code list",
    needs=(cac.ClassifiedTaxCategory,),
)
def br_cl_18(doc: Doc) -> Iterator[Element]:
    if _all_listed(doc.under(T_ID, cac.ClassifiedTaxCategory), codes.UNCL5305):
        return
    for cat in doc.all(cac.ClassifiedTaxCategory):
        for el in children(cat, T_ID):
            if not listed(el, codes.UNCL5305):
                yield el


def _reason_codes(doc: Doc, charge: bool) -> Iterator[Element]:
    for el in doc.all(cbc.AllowanceChargeReasonCode):
        ac = el.getparent()
        if ac is not None and ac.tag == T_ALLOWANCE_CHARGE and is_charge(ac) is charge:
            yield el


@rule(
    "BR-CL-19",
    "fatal",
    "Coded allowance reasons MUST belong to the UNCL 5189 code list",
    needs=(cbc.AllowanceChargeReasonCode,),
)
def br_cl_19(doc: Doc) -> Iterator[Element]:
    for el in _reason_codes(doc, charge=False):
        if not listed(el, codes.UNCL5189):
            yield el


@rule(
    "BR-CL-20",
    "fatal",
    "Coded charge reasons MUST belong to the UNCL 7161 code list",
    needs=(cbc.AllowanceChargeReasonCode,),
)
def br_cl_20(doc: Doc) -> Iterator[Element]:
    for el in _reason_codes(doc, charge=True):
        if not listed(el, codes.UNCL7161):
            yield el


@rule(
    "BR-CL-21",
    "fatal",
    "Item standard identifier scheme identifier MUST belong to the ISO 6523 ICD code list",
    needs=(T_ID,),
)
def br_cl_21(doc: Doc) -> Iterator[Element]:
    for el in doc.under(T_ID, cac.StandardItemIdentification):
        scheme = el.get("schemeID")
        if scheme is not None and not in_list(scheme, codes.ICD):
            yield el


@rule(
    "BR-CL-22",
    "fatal",
    "Tax exemption reason code identifier scheme identifier MUST belong to the CEF VATEX code list",
    needs=(cbc.TaxExemptionReasonCode,),
)
def br_cl_22(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.TaxExemptionReasonCode):
        value = norm(el)
        if " " in value or value.upper() not in codes.VATEX:
            yield el


@rule(
    "BR-CL-23",
    "fatal",
    "Unit code MUST be coded according to the UN/ECE Recommendation 20 with Rec 21 extension",
    needs=(cbc.InvoicedQuantity, cbc.BaseQuantity, cbc.CreditedQuantity),
)
def br_cl_23(doc: Doc) -> Iterator[Element]:
    for tag in (cbc.InvoicedQuantity, cbc.BaseQuantity, cbc.CreditedQuantity):
        units = doc.attribute_values(tag, "unitCode")
        if codes.REC20.issuperset(units):
            continue
        for el, unit in zip(doc.all(tag), units, strict=True):
            if unit is not None and not in_list(unit, codes.REC20):
                yield el


@rule("BR-CL-24", "fatal", "For Mime code in attribute use MIMEMediaType.", needs=(cbc.EmbeddedDocumentBinaryObject,))
def br_cl_24(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.EmbeddedDocumentBinaryObject):
        mime = el.get("mimeCode")
        if mime is not None and mime not in codes.MIMECODES:
            yield el


@rule(
    "BR-CL-25",
    "fatal",
    "Endpoint identifier scheme identifier MUST belong to the CEF EAS code list",
    needs=(cbc.EndpointID,),
)
def br_cl_25(doc: Doc) -> Iterator[Element]:
    for el in doc.all(cbc.EndpointID):
        scheme = el.get("schemeID")
        if scheme is not None and not in_list(scheme, codes.EAS):
            yield el


@rule(
    "BR-CL-26",
    "fatal",
    "Delivery location identifier scheme identifier MUST belong to the ISO 6523 ICD code list",
    needs=(T_ID,),
)
def br_cl_26(doc: Doc) -> Iterator[Element]:
    for el in doc.under(T_ID, cac.DeliveryLocation):
        scheme = el.get("schemeID")
        if scheme is not None and not in_list(scheme, codes.ICD):
            yield el
