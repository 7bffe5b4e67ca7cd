"""National rules of Peppol BIS Billing 3.0.21 for Norway (NO-R-001, NO-R-002) and Denmark (DK-R-*).

The Dutch NL-R-* are in ``nl.py``. The two countries pick their suppliers differently in the Schematron:

- Norway: ``$supplierCountry``, the first two letters of the supplier's VAT number (cac:TaxScheme/cbc:ID = 'VAT',
  exactly), else of the tax representative's, else the supplier's postal country; upper-cased.
- Denmark: ``$DKSupplierCountry`` / ``$DKCustomerCountry``, the postal country code exactly as written (not
  normalised, not upper-cased). Most DK rules also need a Danish customer.

Each rule asks its country itself and also has it as its guard, so that for other suppliers the runner skips each
country's rules with one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ublexport.rules._doc import (
    T_ALLOWANCE_CHARGE,
    T_ID,
    T_LINES,
    T_PARTY,
    Doc,
    Element,
    cac,
    cbc,
    child,
    children,
    norm,
    num,
    path_all,
    path_find,
    string,
)
from ublexport.rules.peppol import mod11_ok
from ublexport.rules.registry import Check, rule

FAMILY = "peppol"


# --- who is Norwegian, who is Danish ------------------------------------------------------------------------------


def _first_prefix(parties: list[Element]) -> str:
    """The first non-empty ``cac:PartyTaxScheme[cac:TaxScheme/cbc:ID = 'VAT']/substring(cbc:CompanyID, 1, 2)`` of
    these parties, upper-cased and normalised ('' if none)."""
    for party in parties:
        for pts in children(party, cac.PartyTaxScheme):
            if not any(string(i) == "VAT" for s in children(pts, cac.TaxScheme) for i in children(s, T_ID)):
                continue
            prefix = string(child(pts, cbc.CompanyID))[:2]
            if prefix:
                return norm(prefix).upper()
    return ""


def supplier_country(doc: Doc) -> str:
    """The Peppol Schematron's ``$supplierCountry`` (memoised per check)."""
    found: str | None = doc.memo.get("peppol_supplier_country")
    if found is None:
        root = doc.root
        found = _first_prefix(path_all(root, cac.AccountingSupplierParty, T_PARTY))
        if not found:
            found = _first_prefix(children(root, cac.TaxRepresentativeParty))
        if not found:
            code = path_find(root, cac.AccountingSupplierParty, T_PARTY, cac.PostalAddress, cac.Country)
            codes = children(code, cbc.IdentificationCode)
            found = norm(codes[0]).upper() if codes else "XX"
        doc.memo["peppol_supplier_country"] = found
    return found


def _raw_country(doc: Doc, party: str) -> str:
    """``$DKSupplierCountry`` / ``$DKCustomerCountry``: the postal country code as written."""
    return string(path_find(doc.root, cac(party), T_PARTY, cac.PostalAddress, cac.Country, cbc.IdentificationCode))


def _no(doc: Doc) -> bool:
    return supplier_country(doc) == "NO"


def _no_guard(doc: Doc) -> bool:
    """The guard of the NO rules, cheaper than ``_no``: ``$supplierCountry`` can only be NO if the postal country
    is (``Doc.supplier_country``, shared with the Dutch and Danish guards) or some tax scheme's CompanyID begins
    with those two letters."""
    return doc.supplier_country == "NO" or any(
        string(c)[:2].upper() == "NO" for c in doc.under(cbc.CompanyID, cac.PartyTaxScheme)
    )


def _dk_supplier(doc: Doc) -> bool:
    return _raw_country(doc, "AccountingSupplierParty") == "DK"


def _dk_both(doc: Doc) -> bool:
    return _dk_supplier(doc) and _raw_country(doc, "AccountingCustomerParty") == "DK"


def _dk_guard(doc: Doc) -> bool:
    """The guard of every DK rule: the normalised supplier country is DK (true whenever the exact one is)."""
    return doc.supplier_country == "DK"


def no_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=_no_guard)


def dk_rule(rule_id: str, flag: str, message: str, needs: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    return rule(rule_id, flag, message, FAMILY, needs=needs, when=_dk_guard)


def _vat_schemes(party: Element, scheme: str) -> list[Element]:
    """cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = scheme] of a party."""
    return [
        pts
        for pts in children(party, cac.PartyTaxScheme)
        if any(norm(i) == scheme for s in children(pts, cac.TaxScheme) for i in children(s, T_ID))
    ]


def _supplier_parties(doc: Doc) -> list[Element]:
    """cac:AccountingSupplierParty/cac:Party, anywhere (the NO rules' context)."""
    return doc.under(T_PARTY, cac.AccountingSupplierParty)


# --- Norway -------------------------------------------------------------------------------------------------------


@no_rule(
    "NO-R-002",
    "warning",
    'For Norwegian suppliers, most invoice issuers are required to append "Foretaksregisteret" to their invoice. '
    '"Dersom selger er aksjeselskap, allmennaksjeselskap eller filial av utenlandsk selskap skal også ordet '
    '«Foretaksregisteret» fremgå av salgsdokumentet, jf. foretaksregisterloven § 10-2."',
)
def no_r_002(doc: Doc) -> Iterator[Element]:
    if not _no(doc):
        return
    for party in _supplier_parties(doc):
        ids = [c for pts in _vat_schemes(party, "TAX") for c in children(pts, cbc.CompanyID)]
        if not ids or norm(ids[0]) != "Foretaksregisteret":
            yield party


@no_rule(
    "NO-R-001",
    "fatal",
    "For Norwegian suppliers, a VAT number MUST be the country code prefix NO followed by a valid Norwegian "
    "organization number (nine numbers) followed by the letters MVA.",
)
def no_r_001(doc: Doc) -> Iterator[Element]:
    if not _no(doc):
        return
    for party in _supplier_parties(doc):
        ids = [string(c) for pts in _vat_schemes(party, "VAT") for c in children(pts, cbc.CompanyID)]
        if not any(i[:2] == "NO" for i in ids):
            continue  # no Norwegian VAT number: nothing to check
        value = ids[0]
        body = value[2:]
        if not (
            len(body) == 12 and body[:9].isascii() and body[:9].isdigit() and body[9:] == "MVA" and mod11_ok(body[:9])
        ):
            yield party


# --- Denmark ------------------------------------------------------------------------------------------------------


def _supplier_legal_ids(doc: Doc) -> list[Element]:
    return path_all(doc.root, cac.AccountingSupplierParty, T_PARTY, cac.PartyLegalEntity, cbc.CompanyID)


@dk_rule("DK-R-002", "fatal", "Danish suppliers MUST provide legal entity (CVR-number)")
def dk_r_002(doc: Doc) -> Iterator[Element]:
    if not _dk_supplier(doc):
        return
    ids = _supplier_legal_ids(doc)
    if not ids or norm(ids[0].text or "") == "":
        yield doc.root


@dk_rule(
    "DK-R-014",
    "fatal",
    'For Danish Suppliers it is mandatory to specify schemeID as "0184" (DK CVR-number) when '
    "PartyLegalEntity/CompanyID is used for AccountingSupplierParty",
)
def dk_r_014(doc: Doc) -> Iterator[Element]:
    if not _dk_supplier(doc):
        return
    ids = _supplier_legal_ids(doc)
    if ids and norm(ids[0].get("schemeID") or "") != "0184":
        yield doc.root


@dk_rule("DK-R-016", "fatal", "For Danish Suppliers, a Credit note cannot have a negative total (PayableAmount)")
def dk_r_016(doc: Doc) -> Iterator[Element]:
    if not (doc.is_creditnote and _dk_both(doc)):
        return
    payable = path_find(doc.root, cac.LegalMonetaryTotal, cbc.PayableAmount)
    value = num(payable.text or "") if payable is not None else None  # number(): NaN (never < 0) if no number
    if value is not None and value < 0:
        yield doc.root


@dk_rule(
    "DK-R-013",
    "fatal",
    "For Danish Suppliers it is mandatory to use schemeID when PartyIdentification/ID is used for "
    "AccountingCustomerParty or AccountingSupplierParty",
    needs=(cac.PartyIdentification,),
)
def dk_r_013(doc: Doc) -> Iterator[Element]:
    if not _dk_both(doc):
        return
    root = doc.root
    for party in ("AccountingSupplierParty", "AccountingCustomerParty"):
        for pid in path_all(root, cac(party), T_PARTY, cac.PartyIdentification):
            ids = children(pid, T_ID)
            if ids and norm(ids[0].get("schemeID") or "") == "":
                yield pid


def _dk_payment_means(doc: Doc) -> list[Element]:
    """ubl-invoice:Invoice[Danish supplier and customer]/cac:PaymentMeans (invoices only)."""
    if not (doc.is_invoice and _dk_both(doc)):
        return []
    return children(doc.root, cac.PaymentMeans)


def _codes(pm: Element) -> list[str]:
    return [string(c) for c in children(pm, cbc.PaymentMeansCode)]


def _payment_id(pm: Element) -> str:
    return string(child(pm, cbc.PaymentID))


def _account_id(pm: Element) -> str:
    """cac:PayeeFinancialAccount/cbc:ID/text(), the first."""
    found = path_find(pm, cac.PayeeFinancialAccount, T_ID)
    return (found.text or "") if found is not None else ""


_DK_MEANS = " 1 10 31 42 48 49 50 58 59 93 97 "


@dk_rule(
    "DK-R-005",
    "fatal",
    "For Danish suppliers the following Payment means codes are allowed: 1, 10, 31, 42, 48, 49, 50, 58, 59, 93 and 97",
    needs=(cac.PaymentMeans,),
)
def dk_r_005(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        codes = _codes(pm)
        if f" {codes[0] if codes else ''} " not in _DK_MEANS:
            yield pm


@dk_rule(
    "DK-R-006",
    "fatal",
    "For Danish suppliers bank account and registration account is mandatory if payment means is 31 or 42",
    needs=(cac.PaymentMeans,),
)
def dk_r_006(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        if not {"31", "42"} & set(_codes(pm)):
            continue
        branch = path_find(pm, cac.PayeeFinancialAccount, cac.FinancialInstitutionBranch, T_ID)
        if norm(_account_id(pm)) == "" or branch is None or norm(branch.text or "") == "":
            yield pm


@dk_rule(
    "DK-R-007",
    "fatal",
    "For Danish suppliers PaymentMandate/ID and PayerFinancialAccount/ID are mandatory when payment means is 49",
    needs=(cac.PaymentMeans,),
)
def dk_r_007(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        if "49" not in _codes(pm):
            continue
        mandate = path_find(pm, cac.PaymentMandate, T_ID)
        payer = path_find(pm, cac.PaymentMandate, cac.PayerFinancialAccount, T_ID)
        if mandate is None or norm(mandate.text or "") == "" or payer is None or norm(payer.text or "") == "":
            yield pm


@dk_rule(
    "DK-R-008",
    "fatal",
    "For Danish Suppliers PaymentID is mandatory and MUST start with 01#, 04# or 15# (kortartkode), and "
    "PayeeFinancialAccount/ID (Giro kontonummer) is mandatory and must be 7 or 8 numerical characters long, when "
    "payment means equals 50 (Giro)",
    needs=(cac.PaymentMeans,),
)
def dk_r_008(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        if "50" in _codes(pm) and not (_payment_id(pm)[:3] in ("01#", "04#", "15#") and _giro_account(pm)):
            yield pm


def _giro_account(pm: Element) -> bool:
    """matches(cac:PayeeFinancialAccount/cbc:ID, '^[0-9]{7,8}$')."""
    found = path_find(pm, cac.PayeeFinancialAccount, T_ID)
    value = string(found)
    return found is not None and 7 <= len(value) <= 8 and value.isascii() and value.isdigit()


@dk_rule(
    "DK-R-009",
    "fatal",
    "For Danish Suppliers if the PaymentID is prefixed with 04# or 15# the 16 digits instruction Id must be added "
    'to the PaymentID eg. "04#1234567890123456" when Payment means equals 50 (Giro)',
    needs=(cac.PaymentMeans,),
)
def dk_r_009(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        payment_id = _payment_id(pm)
        if "50" in _codes(pm) and payment_id[:3] in ("04#", "15#") and len(payment_id) != 19:
            yield pm


@dk_rule(
    "DK-R-010",
    "fatal",
    "For Danish Suppliers using PaymentMeansCode 93, PaymentID is mandatory. The first three characters of the "
    "PaymentID MUST be 71#, 73# or 75# (kortartskode), and PayeeFinancialAccount/ID MUST be exactly 8 characters "
    "long.",
    needs=(cac.PaymentMeans,),
)
def dk_r_010(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        if "93" in _codes(pm) and not (_payment_id(pm)[:3] in ("71#", "73#", "75#") and len(_account_id(pm)) == 8):
            yield pm


@dk_rule(
    "DK-R-011",
    "fatal",
    "For Danish Suppliers if the PaymentID is prefixed with 71# or 75# the 15-16 digits instruction Id must be "
    'added to the PaymentID eg. "71#1234567890123456" when payment Method equals 93 (FIK)',
    needs=(cac.PaymentMeans,),
)
def dk_r_011(doc: Doc) -> Iterator[Element]:
    for pm in _dk_payment_means(doc):
        payment_id = _payment_id(pm)
        if "93" in _codes(pm) and payment_id[:3] in ("71#", "75#") and len(payment_id) not in (18, 19):
            yield pm


@dk_rule(
    "DK-R-017",
    "fatal",
    'For Danish Customers it is mandatory to specify schemeID as "0184" (DK CVR-number) when '
    "PartyLegalEntity/CompanyID is used for AccountingCustomerParty",
    needs=(cac.PartyLegalEntity,),
)
def dk_r_017(doc: Doc) -> Iterator[Element]:
    if not _dk_both(doc):
        return
    for party in children(child(doc.root, cac.AccountingCustomerParty), T_PARTY):
        ids = path_all(party, cac.PartyLegalEntity, cbc.CompanyID)
        if ids and norm(ids[0].get("schemeID") or "") != "0184":
            yield party


_UNSPSC_VERSIONS = ("19.05.01", "19.0501", "26.08.01", "26.0801")


@dk_rule(
    "DK-R-003",
    "fatal",
    "If ItemClassification is provided from Danish suppliers, UNSPSC version 19.05.01 or 26.08.01 should be used.",
    needs=(cbc.ItemClassificationCode,),
)
def dk_r_003(doc: Doc) -> Iterator[Element]:
    if not _dk_both(doc):
        return
    for line in (el for tag in T_LINES for el in children(doc.root, tag)):
        codes = path_all(line, cac.Item, cac.CommodityClassification, cbc.ItemClassificationCode)
        if any(c.get("listID") == "TST" for c in codes) and not any(
            c.get("listVersionID") in _UNSPSC_VERSIONS for c in codes
        ):
            yield line


@dk_rule(
    "DK-R-004",
    "fatal",
    'When specifying non-VAT Taxes for Danish customers, Danish suppliers MUST use the AllowanceChargeReasonCode="ZZZ" '
    "and MUST be specified in AllowanceChargeReason; Either as the 4-digit Tax category or must include a #, but the # "
    "is not allowed as first and last character",
    needs=(cbc.AllowanceChargeReasonCode,),
)
def dk_r_004(doc: Doc) -> Iterator[Element]:
    if not _dk_both(doc):
        return
    for ac in doc.all(T_ALLOWANCE_CHARGE):
        if not any(string(c) == "ZZZ" for c in children(ac, cbc.AllowanceChargeReasonCode)):
            continue
        reasons = children(ac, cbc.AllowanceChargeReason)
        text = (reasons[0].text or "") if reasons else ""
        value = num(text) if reasons else None  # number(): NaN (no comparison holds) if absent or no number
        if len(norm(text)) == 4 and value is not None and 0 <= value <= 9999:
            continue  # a 4-digit tax category
        reason = string(reasons[0]) if reasons else ""
        if not ("#" in reason and not reason.startswith("#") and not reason.endswith("#")):
            yield ac
