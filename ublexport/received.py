"""Does a UBL received from a supplier belong to the expense it is attached to, and say what it records?

An expense passed on as received goes out with the supplier's XML, while the e-mail's subject and the ledger describe
the expense's JSON. A UBL file picked by mistake (another invoice of the same supplier, another company's invoice, an
example file) would validate and be booked as this expense: so before it is passed on, its number, date, parties,
currency and amount due must be the expense's own. The amount due is the supplier's arithmetic, which may round VAT
otherwise (TOLERANCE), and a supplier's credit note is entered as a negative expense; a party is compared only where
both sides name it by the same kind of number (VAT, enterprise number, KvK). What the accountant books and pays from
the UBL is compared too: the VAT per category and rate, and the account, reference and due date where both give one.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lxml import etree
from stdnum.be import vat as be_vat

from ublexport import identifiers, xsd
from ublexport.errors import InputError
from ublexport.model import Company, Document, Party
from ublexport.totals import Totals
from ublexport.view import ENTERPRISE_SCHEME, KVK_SCHEME, OIN_SCHEME, VAT_SCHEMES

_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_BE_VAT = re.compile(r"BE[01]?\d{9}")

# An identifier is compared only with one of the same kind: a VAT number (BT-31/48, or an endpoint in a VAT scheme
# such as 9925 or 9944), a Belgian enterprise number (KBO/BCE, 0208, which a Belgian VAT number holds) or a Dutch
# KvK number (0106). A GLN (0088), a relation code or an e-mail address says nothing either way.
VAT, KBO, KVK, OIN = "VAT", "KBO", "KvK", "OIN"
# (9933 is EL; 0184 and 0211 hold the Danish and Italian VAT numbers; 9902, 9955, 9906 and 0213, withdrawn, the
# Danish, Swedish, Italian and Finnish ones in a UBL from an older generator)
_VAT_PREFIX = {**{scheme: country for country, scheme in VAT_SCHEMES.items() if country != "GR"},
               "0184": "DK", "0211": "IT", "9902": "DK", "9955": "SE", "9906": "IT", "0213": "FI"}
_SCHEMES = {ENTERPRISE_SCHEME: KBO, KVK_SCHEME: KVK, OIN_SCHEME: OIN, **dict.fromkeys(_VAT_PREFIX, VAT)}

Identifier = tuple[str | None, str]  # (kind, normalised value); kind None: shown, never compared


def _normal(value: str) -> str:
    """Identifiers compare without dots, spaces and case (0444.000.276 is 0444000276); e-mail addresses by case."""
    value = value.strip()
    return value.casefold() if "@" in value else _NOT_ALNUM.sub("", value).upper()


def _typed(kind: str | None, raw: str, scheme: str | None = None) -> set[Identifier]:
    """The identifier of that kind, normalised, with what it implies: the old 9-digit form of a Belgian number
    (BE 444.000.276) is the 10-digit one with a leading 0, and a Belgian VAT number holds the enterprise number
    (BE0444000276 -> 0444000276), which a UBL may give alone as the legal id (scheme 0208) or the endpoint."""
    value = _normal(raw)
    if kind == VAT and scheme in _VAT_PREFIX and value[:1].isdigit():
        value = _VAT_PREFIX[scheme] + value  # 9925:0444000276 is BE0444000276
    if kind == VAT:
        value = identifiers.vat_as_written(value)  # GR094259216 is EL094259216
    if kind == VAT and _BE_VAT.fullmatch(value):
        number = be_vat.compact(value)  # python-stdnum: the 10-digit form, a 9-digit one with its leading 0
        return {(VAT, f"BE{number}"), (KBO, number)}
    if kind == KBO and value.isdigit() and len(value) == 9:
        value = be_vat.compact(value)
    return {(kind, value)}


def _ids_in_ubl(party: etree._Element | None) -> set[Identifier]:
    """Every identifier a UBL party carries: VAT (BT-31/48), legal id (BT-30/47), endpoint (BT-34/49), party ids;
    of a comparable kind when its scheme says so."""
    if party is None:
        return set()
    found: set[Identifier] = set()
    for tax in party.findall(f"{_CAC}PartyTaxScheme"):
        vat = (tax.findtext(f"{_CAC}TaxScheme/{_CBC}ID") or "").strip() == "VAT"
        for element in tax.findall(f"{_CBC}CompanyID"):
            if element.text and element.text.strip():
                found |= _typed(VAT if vat else None, element.text)
    paths = (f"{_CAC}PartyLegalEntity/{_CBC}CompanyID", f"{_CBC}EndpointID", f"{_CAC}PartyIdentification/{_CBC}ID")
    for path in paths:
        for element in party.findall(path):
            if element.text and element.text.strip():
                scheme = (element.get("schemeID") or "").strip()
                found |= _typed(_SCHEMES.get(scheme), element.text, scheme)
    return found


def _ids_of(vat: str | None, enterprise: str | None, kvk: str | None, email: str | None = None,
            oin: str | None = None) -> set[Identifier]:
    found: set[Identifier] = set()
    for kind, value in ((VAT, vat), (KBO, enterprise), (KVK, kvk), (OIN, oin), (None, email)):
        if value:
            found |= _typed(kind, value)
    return found


def _ids_of_supplier(party: Party) -> set[Identifier]:
    return _ids_of(party.vat_number, party.enterprise_number, party.kvk_number, oin=party.oin)


def _ids_of_company(company: Company) -> set[Identifier]:
    return _ids_of(company.vat_number, company.enterprise_number, company.kvk_number, company.email)


def _differ(theirs: set[Identifier], ours: set[Identifier]) -> bool:
    """Both sides name the party by an identifier of the same kind, and no identifier is on both sides.

    A party named in a way we cannot compare (a buyer known by its GLN only) is not refused: the number, the date
    and the other party still identify the document."""
    comparable = {kind for kind, _ in theirs} & {kind for kind, _ in ours} - {None}
    return bool(comparable) and not {i for i in theirs if i[0] is not None} & ours


def _shown(values: set[Identifier]) -> str:
    return ", ".join(sorted({value for _, value in values})) if values else "none"


# The amount due as the supplier computed it may differ from ours by rounding: EN 16931 rounds VAT per rate, but a
# supplier who rounds VAT per line (or per item) ends a cent or more apart, and the Peppol rules themselves allow the
# VAT of a rate (BR-CO-17) to be 1.00 off taxable amount x rate. A difference up to that, in the document's
# currency, does not make it another document: its number, date and parties still identify it. Only an amount the
# user copied from the invoice (stated_totals.payable) is compared exactly.
TOLERANCE = Decimal("1.00")


def _same_amount(theirs: Decimal, ours: Decimal, *, exact: bool) -> bool:
    if exact or theirs == ours:
        return theirs == ours
    same_sign = (theirs > 0) == (ours > 0) and (theirs < 0) == (ours < 0)  # never an invoice for a credit note
    return same_sign and abs(theirs - ours) <= TOLERANCE


def _text(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    return element.text.strip() if element is not None and element.text else None


VatKey = tuple[str, Decimal]  # (category, rate): O and a category without a rate have rate 0


def _breakdown_in_ubl(root: etree._Element) -> dict[VatKey, tuple[Decimal, Decimal]] | None:
    """The VAT breakdown (BG-23) in the document's currency: (category, rate) -> (taxable, tax); None when a number
    in it cannot be read (the schema and the rules, which ran first, make that all but impossible)."""
    found: dict[VatKey, tuple[Decimal, Decimal]] = {}
    try:
        for subtotal in root.iterfind(f"{_CAC}TaxTotal/{_CAC}TaxSubtotal"):
            category = (subtotal.findtext(f"{_CAC}TaxCategory/{_CBC}ID") or "").strip()
            rate = Decimal((subtotal.findtext(f"{_CAC}TaxCategory/{_CBC}Percent") or "0").strip())
            taxable = Decimal((subtotal.findtext(f"{_CBC}TaxableAmount") or "0").strip())
            tax = Decimal((subtotal.findtext(f"{_CBC}TaxAmount") or "0").strip())
            before = found.get((category, rate.normalize()), (Decimal(0), Decimal(0)))
            found[(category, rate.normalize())] = (before[0] + taxable, before[1] + tax)
    except InvalidOperation:
        return None
    return found


def _breakdown_shown(breakdown: dict[VatKey, tuple[Decimal, Decimal]]) -> str:
    return "; ".join(f"{category}{f' {rate:f} %' if rate else ''}: taxable {taxable:.2f}, VAT {tax:.2f}"
                     for (category, rate), (taxable, tax) in sorted(breakdown.items()))


def _reference(value: str) -> str:
    """A payment reference as compared: a Belgian structured communication in its one form (identifiers reads
    +++000/0088/12347+++, ***000/0088/12347*** and 000/0088/12347 alike), other text without spaces or case
    ("RF18 5390 0754 7034" is rf18539007547034)."""
    try:
        text = identifiers.structured_reference(value)
    except ValueError:  # a structured form with a wrong check digit: compared as written
        text = value
    # +++000/0088/12347+++ and 000008812347 (as many Belgian UBLs carry it) are the same twelve digits
    return re.sub(r"[+*/\s]", "", text) if text.startswith(("+++", "***")) else re.sub(r"\s", "", text).casefold()


def _vat_and_payment_differences(document: Document, root: etree._Element, totals: Totals, *,
                                 negate: bool, credit: bool) -> list[str]:
    """What the accountant books (the VAT per rate) and pays (account, reference, due date) from the UBL must be
    what the expense records: a UBL that splits the VAT otherwise is another booking, and an account other than the
    supplier's known one is the classic invoice fraud. The VAT follows the amount due's rounding tolerance;
    account, reference and due date are compared where both sides give one."""
    problems: list[str] = []
    sign = Decimal(-1) if negate else Decimal(1)
    ours = {(group.category.value, (group.rate or Decimal(0)).normalize()): (sign * group.taxable, sign * group.tax)
            for group in totals.vat_groups}
    theirs = _breakdown_in_ubl(root)
    if theirs is not None and (theirs.keys() != ours.keys() or any(
            abs(theirs[key][0] - amounts[0]) > TOLERANCE or abs(theirs[key][1] - amounts[1]) > TOLERANCE
            for key, amounts in ours.items())):
        # shown as each side books it: a credit note's amounts count negative
        booked = {key: (sign * taxable, sign * tax) for key, (taxable, tax) in theirs.items()}
        recorded = {key: (sign * taxable, sign * tax) for key, (taxable, tax) in ours.items()}
        problems.append(f"VAT breakdown (cac:TaxSubtotal, BG-23): {_breakdown_shown(booked) or 'none'} in the UBL"
                        + (" (a credit note: its amounts count negative)" if negate else "")
                        + f", {_breakdown_shown(recorded)} in the lines")
    stated_vat = document.stated_totals.vat if document.stated_totals else None
    if stated_vat is not None:
        currency = document.currency
        vat_texts = [t.text.strip() for t in root.iterfind(f"{_CAC}TaxTotal/{_CBC}TaxAmount")
                     if t.get("currencyID") == currency and t.text]
        if vat_texts and all(Decimal(v) != sign * stated_vat for v in vat_texts):
            problems.append(f"VAT total (cbc:TaxAmount, BT-110): {vat_texts[0]!r} in the UBL, "
                            f"'{stated_vat:.2f}' in stated_totals.vat")
    due = (_text(root, f"{_CBC}DueDate") or _text(root, f"{_CAC}PaymentMeans/{_CBC}PaymentDueDate"))
    if document.due_date is not None and due is not None and due != document.due_date.isoformat():
        problems.append(f"due date (BT-9): {due!r} in the UBL, {document.due_date.isoformat()!r} in due_date")
    pay = document.payment
    account = pay.iban if pay and pay.iban else document.counterparty.iban
    accounts = {_normal(a.text) for a in root.iterfind(f"{_CAC}PaymentMeans/{_CAC}PayeeFinancialAccount/{_CBC}ID")
                if a.text and a.text.strip()}
    # every account the UBL asks payment to must be the known one: a second PaymentMeans naming the known account
    # must not make the fraudster's first one pass. A credit note names the buyer's account, for the refund: ours.
    if account and not credit and accounts - {_normal(account)}:
        field = "payment.iban" if pay and pay.iban else "supplier.iban"
        problems.append(f"payee account (cac:PayeeFinancialAccount, BT-84): {', '.join(sorted(accounts))} in the UBL, "
                        f"{account!r} in {field}; if the supplier says its account changed, confirm that with the "
                        "supplier by phone before paying (a changed account is the usual invoice fraud), then "
                        f"correct {field}")
    references = {_reference(r.text) for r in root.iterfind(f"{_CAC}PaymentMeans/{_CBC}PaymentID")
                  if r.text and r.text.strip()}
    if pay and pay.reference and references - {_reference(pay.reference)}:
        shown = ", ".join(sorted(r.text.strip() for r in root.iterfind(f"{_CAC}PaymentMeans/{_CBC}PaymentID")
                                 if r.text and r.text.strip()))
        problems.append(f"payment reference (cbc:PaymentID, BT-83): {shown} in the UBL, {pay.reference!r} in "
                        "payment.reference")
    return problems


def check_matches(document: Document, xml: bytes, totals: Totals, source: str | None = None) -> None:
    """InputError naming every field in which the received UBL differs from the expense (both values)."""
    root = xsd.parse(xml, source or document.label).getroot()  # the one safe parser (no entities, no network)
    problems: list[str] = []

    def differs(what: str, theirs: str | None, ours: str, field: str) -> None:
        problems.append(f"{what}: {theirs!r} in the UBL, {ours!r} in {field}" if theirs is not None
                        else f"{what}: missing in the UBL, {ours!r} in {field}")

    number = _text(root, f"{_CBC}ID")
    if number != document.number:
        differs("number (cbc:ID, BT-1)", number, document.number, "number")
    issued = _text(root, f"{_CBC}IssueDate")
    if issued != document.issue_date.isoformat():
        differs("issue date (cbc:IssueDate, BT-2)", issued, document.issue_date.isoformat(), "issue_date")
    currency = _text(root, f"{_CBC}DocumentCurrencyCode")
    if currency != document.currency:
        differs("currency (cbc:DocumentCurrencyCode, BT-5)", currency, document.currency, "currency")
    payable_text = _text(root, f"{_CAC}LegalMonetaryTotal/{_CBC}PayableAmount")
    try:
        payable = Decimal(payable_text) if payable_text is not None else None
    except InvalidOperation:
        payable = None
    stated = document.stated_totals.payable if document.stated_totals else None
    ours = stated if stated is not None else totals.payable
    field = "stated_totals.payable" if stated is not None else "the total of the lines"
    # A supplier's credit note is entered as an expense marked credit_note, with its positive amounts, or as an
    # expense with negative amounts (booked as one), while its UBL is a CreditNote whose amounts are positive: it
    # credits by being a credit note. An expense marked a credit note is never the supplier's invoice.
    credit_note = etree.QName(root).localname == "CreditNote"
    negate = credit_note and not document.credit_note
    if document.credit_note and not credit_note:
        problems.append("document type: an invoice (Invoice) in the UBL, a credit note in credit_note; leave "
                        "credit_note out for the supplier's invoice")
    if negate:
        field += " (negated: the UBL is a credit note, entered as an expense with negative amounts)"
    expected = -ours if negate else ours
    if payable is None or not _same_amount(payable, expected, exact=stated is not None):
        differs("amount due (cbc:PayableAmount, BT-115)", payable_text, f"{ours:.2f}", field)

    problems += _vat_and_payment_differences(document, root, totals, negate=negate, credit=credit_note)

    # A party is compared only when both sides name it by an identifier of a comparable kind; a valid UBL always
    # does for the seller (BR-CO-26) and, under Peppol, names the buyer by its endpoint (PEPPOL-EN16931-R010),
    # which may be in a scheme we cannot compare (a GLN).
    seller_ubl = _ids_in_ubl(root.find(f"{_CAC}AccountingSupplierParty/{_CAC}Party"))
    seller_ours = _ids_of_supplier(document.counterparty)
    if _differ(seller_ubl, seller_ours):
        problems.append(f"seller (VAT, legal id or endpoint): {_shown(seller_ubl)} in the UBL, "
                        f"{_shown(seller_ours)} for the supplier")
    buyer_ubl = _ids_in_ubl(root.find(f"{_CAC}AccountingCustomerParty/{_CAC}Party"))
    buyer_ours = _ids_of_company(document.company)
    if _differ(buyer_ubl, buyer_ours):
        problems.append(f"buyer (VAT, legal id or endpoint): {_shown(buyer_ubl)} in the UBL, "
                        f"{_shown(buyer_ours)} for the company")
    if problems:
        name = document.received_ubl.filename if document.received_ubl else "received_ubl"
        raise InputError(f"{document.label}: the UBL as received ({name}) is not this expense; attach the "
                         "supplier's UBL of this very invoice, or correct the expense", source=source,
                         problems=problems)
