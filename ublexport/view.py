"""The adapter between the model and the templates: roles, type codes, identifiers, formatted amounts.

Every decision about what goes into the UBL is taken here, in Python, where it can be tested; the templates only
print strings from these objects. An expense swaps the roles: its supplier is the AccountingSupplierParty and our
company the AccountingCustomerParty.

The view classes are plain slotted dataclasses, not frozen ones: a frozen dataclass sets each field through
object.__setattr__, about five times slower, which cost ~12 µs on the ~20 view objects of a 10-line invoice (a
render is ~0.2 ms). Nothing changes them after build() returns; build() itself uses dataclasses.replace.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ublexport.errors import InputError
from ublexport.filetypes import named_for, safe_filename, visual_copy_type
from ublexport.identifiers import vat_as_written
from ublexport.model import (
    Address,
    Company,
    Document,
    DocumentKind,
    Party,
    Period,
    VatMixin,
    exemption_text,
    input_rules,
)
from ublexport.totals import Totals, compute

PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
EN16931_CUSTOMIZATION = "urn:cen.eu:en16931:2017"
NLCIUS_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0"

TYPE_CODES = {
    DocumentKind.invoice: "380",
    DocumentKind.credit_note: "381",
    DocumentKind.proforma: "325",
    DocumentKind.expense: "380",
}

# EAS codes (Peppol electronic address schemes) for VAT numbers, by country prefix.
VAT_SCHEMES = {
    "BE": "9925", "NL": "9944", "DE": "9930", "FR": "9957", "LU": "9938", "ES": "9920",
    "AT": "9915", "IE": "9935", "PT": "9946", "PL": "9945",
    "CZ": "9929", "SK": "9950", "HU": "9910", "SI": "9949", "HR": "9934", "RO": "9947", "BG": "9926",
    "GR": "9933", "EL": "9933", "CY": "9928", "MT": "9943", "EE": "9931", "LV": "9939", "LT": "9937",
    "GB": "9932",
}
"""The Peppol electronic address scheme (EAS) of each country's VAT number, where Peppol's list has one."""

# Denmark, Sweden, Italy and Finland have no VAT scheme in Peppol's list (9902, 9955, 9906 and 0213 were withdrawn:
# PEPPOL-EN16931-CL008 refuses them): their parties are addressed by the business register number that the VAT
# number holds, as in Peppol's own examples. (scheme, the address made from a VAT number stdnum has checked)
REGISTER_SCHEMES: dict[str, tuple[str, Callable[[str], str]]] = {
    "DK": ("0184", lambda vat: vat),  # CVR, written DK12345678 (Peppol's Danish examples); the VAT number is DK+CVR
    "SE": ("0007", lambda vat: vat[2:12]),  # organisationsnummer: a VAT number is SE + its 10 digits + 01
    "IT": ("0211", lambda vat: vat),  # partita IVA, IT + 11 digits (PEPPOL-COMMON-R047 checks that form)
    "FI": ("0216", lambda vat: "0037" + vat[2:]),  # OVT code: 0037 + the Y-tunnus' 8 digits, the VAT number's
}
DANISH_CVR_SCHEME = "0184"  # a Danish supplier's legal id (DK-R-002, DK-R-014)
ENTERPRISE_SCHEME = "0208"  # Belgian enterprise number (KBO/BCE)
KVK_SCHEME = "0106"  # Dutch Chamber of Commerce
OIN_SCHEME = "0190"  # Dutch public body (Organisatie-identificatienummer)


def money(value: Decimal) -> str:
    """Two decimals; a zero as 0.00, never -0.00 (a product of -0 and a price), which a validator may take for below
    zero."""
    return f"{value:.2f}" if value else f"{abs(value):.2f}"


def number(value: Decimal) -> str:
    """A quantity, price or rate without exponent or trailing zeros: 2, 0.4567, 21."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def price(value: Decimal) -> str:
    """A unit price with at least two decimals (65.00), more only when given (0.4567)."""
    normal = value.normalize()
    if normal.as_tuple().exponent >= -2:  # type: ignore[operator]
        return f"{value:.2f}"
    return format(normal, "f")  # number(value) without normalising twice: never "-0" or "", it has decimals


@dataclass(slots=True)
class AddressView:
    street: str | None
    additional_street: str | None
    city: str
    postal_code: str | None
    region: str | None
    country: str

    @classmethod
    def of(cls, a: Address) -> AddressView:
        return cls(a.street, a.additional_street, a.city, a.postal_code, a.region, a.country)


# The warnings every document with a relation code gets, on purpose (see build), and why: `render` says so
WARNED_ON_PURPOSE = {
    "UBL-CR-202": "the relation code is the debtor number Yuki books the invoice on, and Yuki reads it here",
    "UBL-CR-138": "the relation code is the creditor number Yuki books the expense on, and Yuki reads it here",
}


@dataclass(slots=True)
class PartyView:
    endpoint: str | None
    endpoint_scheme: str | None
    identifier: str | None  # BT-29 / BT-46 (PartyIdentification): see build
    name: str
    address: AddressView
    vat_number: str | None
    registration_name: str
    legal_id: str | None
    legal_scheme: str | None
    contact_name: str | None
    phone: str | None
    email: str | None
    legal_form: str | None = None  # BT-33, the seller's only (the UBL has no such field for the buyer)
    account: str | None = None  # the relation code: Yuki's debtor (or creditor) number, see build
    tax_registration: str | None = None  # BT-32, a supplier's without an EU VAT number (PartyTaxScheme TAX)


def _legal_id(vat: str | None, enterprise: str | None, kvk: str | None,
              oin: str | None = None) -> tuple[str | None, str | None]:
    """The legal id (BT-30/47), which is also the Peppol address: a Dutch public body's OIN before its KvK number,
    as government bodies receive invoices on their OIN (NL-R-003/005 allow both)."""
    if enterprise:
        return enterprise, ENTERPRISE_SCHEME
    if oin:
        return oin, OIN_SCHEME
    if kvk:
        return kvk, KVK_SCHEME
    if vat and vat.startswith("BE"):
        return vat[2:], ENTERPRISE_SCHEME
    if vat and vat.startswith("DK"):
        return vat, DANISH_CVR_SCHEME
    return None, None


def _endpoint(vat: str | None, enterprise: str | None, kvk: str | None,
              email: str | None, oin: str | None = None) -> tuple[str, str] | tuple[None, None]:
    """Electronic address (BT-34/BT-49): enterprise number, OIN, KvK, then VAT number, then e-mail (EN 16931
    only)."""
    return _endpoint_of(*_legal_id(vat, enterprise, kvk, oin), vat, email)


def _endpoint_of(legal: str | None, scheme: str | None, vat: str | None,
                 email: str | None) -> tuple[str, str] | tuple[None, None]:
    """_endpoint for a party whose legal id (_legal_id) is already known."""
    if legal and scheme:
        return legal, scheme
    if vat and vat[:2] in VAT_SCHEMES:
        return vat, VAT_SCHEMES[vat[:2]]
    if vat and vat[:2] in REGISTER_SCHEMES:
        scheme, address = REGISTER_SCHEMES[vat[:2]]
        return address(vat), scheme
    if email:
        return email, "EM"
    return None, None


def has_peppol_address(party: Party) -> bool:
    """A private person without enterprise, KvK or VAT number has no Peppol address: Peppol is B2B."""
    endpoint, _ = _endpoint(party.vat_number, party.enterprise_number, party.kvk_number, None, party.oin)
    return endpoint is not None


def _written(vat: str | None) -> str | None:
    return vat_as_written(vat) if vat else None


def profile_for(document: Document, requested: str = "peppol") -> str:
    """The rule set a document is rendered and checked for.

    Peppol BIS 3.0 is the default. Two kinds of document cannot be Peppol documents and go out as plain EN 16931
    (which Yuki reads just the same): a proforma (Peppol forbids type code 325), and a document whose counterparty
    is a private person without enterprise, KvK or VAT number (Peppol is B2B and requires an electronic address
    for both parties, PEPPOL-EN16931-R010/R020; the person's e-mail becomes the EN 16931 address instead).

    An expense from a Greek or an Icelandic supplier goes as EN 16931 too: Peppol's national rules for those sellers
    want what only the supplier's own e-invoice has (GR-R-001/004: an invoice number of six segments with the
    supplier's TIN and the MARK number its tax authority gave it; IS-R-002: the kennitala), not the copy we make of
    its paper or PDF invoice.

    NLCIUS (SI-UBL 2.0) is the Dutch CIUS, for a Dutch supplier's invoice: asked for a supplier elsewhere, the
    document goes as Peppol BIS, which every receiver of NLCIUS reads too."""
    if document.kind == DocumentKind.proforma or not has_peppol_address(document.counterparty):
        return "en16931"
    if document.kind == DocumentKind.expense and document.supplier is not None and (
            rules_country(document.supplier) == "GR" or document.supplier.invoice_address.country == "IS"):
        return "en16931"
    if requested == "nlcius" and seller_country(document) != "NL":
        return "peppol"
    return requested


# A Belgian credit note that gives back VAT says the customer must repay what it deducted (art. 79 WBTW and art. 4
# KB nr. 4): without the mention the seller may not take the VAT back. Peppol allows one note: it follows the user's.
REFUND_MENTIONS = {
    "nl": "Btw terug te storten aan de Staat in de mate waarin ze oorspronkelijk in aftrek werd gebracht.",
    "fr": "TVA à reverser à l'État dans la mesure où elle a été initialement déduite.",
    "en": "VAT to be repaid to the State to the extent that it was initially deducted.",
}


def refund_mention(document: Document, totals: Totals) -> str | None:
    """The mention a Belgian seller's credit note with VAT carries (REFUND_MENTIONS), in the company's language."""
    if (document.kind != DocumentKind.credit_note or seller_country(document) != "BE"
            or totals.vat_total <= 0):
        return None
    return REFUND_MENTIONS.get(document.company.language.value, REFUND_MENTIONS["en"])


def document_note(document: Document, totals: Totals) -> str | None:
    """The document's note (BT-22) as the UBL and the PDF carry it: the user's, then the refund mention a Belgian
    credit note needs, unless the user's note says it already."""
    mention = refund_mention(document, totals)
    if mention is not None and document.note and mention in document.note:
        mention = None
    return "\n".join(filter(None, (document.note, mention))) or None


def seller_country(document: Document) -> str:
    """The country of the party that issued the document: the supplier of an expense, else the company."""
    if document.kind == DocumentKind.expense and document.supplier is not None:
        return document.supplier.invoice_address.country
    return document.company.address.country


def company_party(company: Company) -> PartyView:
    vat, email = _written(company.vat_number), company.email
    legal, legal_scheme = _legal_id(vat, company.enterprise_number, company.kvk_number)
    endpoint, scheme = _endpoint_of(legal, legal_scheme, vat, email)
    return PartyView(
        endpoint=endpoint, endpoint_scheme=scheme, identifier=None, name=company.name,
        address=AddressView.of(company.address), vat_number=vat,
        registration_name=company.name, legal_id=legal, legal_scheme=legal_scheme,
        contact_name=None, phone=company.phone, email=email, legal_form=company.legal_info,
    )


def counterparty(party: Party) -> PartyView:
    vat, email, name = _written(party.vat_number), party.email, party.full_name
    legal, legal_scheme = _legal_id(vat, party.enterprise_number, party.kvk_number, party.oin)
    endpoint, scheme = _endpoint_of(legal, legal_scheme, vat, email)
    return PartyView(
        endpoint=endpoint, endpoint_scheme=scheme, identifier=party.relation_code, account=party.relation_code,
        name=name,
        address=AddressView.of(party.invoice_address), vat_number=vat,
        registration_name=name, legal_id=legal, legal_scheme=legal_scheme,
        contact_name=name if party.is_person else None,
        phone=party.phone or party.mobile, email=email, tax_registration=party.tax_registration,
    )


@dataclass(slots=True)
class AllowanceChargeView:
    charge: str  # "true" / "false"
    reason_code: str | None
    reason: str | None
    amount: str
    vat_category: str | None = None
    vat_rate: str | None = None


@dataclass(slots=True)
class LineView:
    id: str
    quantity: str
    unit_code: str
    net: str
    allowances_charges: tuple[AllowanceChargeView, ...]
    description: str | None
    name: str
    seller_item_id: str | None
    vat_category: str
    vat_rate: str | None
    price: str
    period: tuple[str | None, str | None] | None  # BG-26: (start, end)


@dataclass(slots=True)
class VatView:
    taxable: str
    tax: str
    category: str
    rate: str | None
    exemption_reason_code: str | None
    exemption_reason: str | None


@dataclass(slots=True)
class PaymentView:
    means_code: str | None  # None: no PaymentMeans (a credit note with only terms)
    reference: str | None
    iban: str | None
    account_name: str | None
    bic: str | None
    terms: str | None


@dataclass(slots=True)
class AttachmentView:
    id: str
    description: str
    filename: str
    mime: str
    content_base64: str


@dataclass(slots=True)
class DeliveryView:
    date: str | None
    address: AddressView | None


@dataclass(slots=True)
class UblView:
    root: str  # "Invoice" or "CreditNote"
    customization_id: str
    profile_id: str | None
    number: str
    issue_date: str
    due_date: str | None
    type_code: str
    note: str | None
    currency: str
    tax_currency: str | None
    buyer_reference: str | None
    order_reference: str | None
    period: tuple[str | None, str | None] | None  # BG-14: (start, end)
    billing_references: tuple[tuple[str, str | None], ...]  # BG-3: (number, issue date)
    attachments: tuple[AttachmentView, ...]
    supplier: PartyView
    customer: PartyView
    delivery: DeliveryView | None
    payment: PaymentView | None
    allowances_charges: tuple[AllowanceChargeView, ...]
    tax_amount: str
    tax_amount_tax_currency: str | None
    vat: tuple[VatView, ...]
    line_total: str
    tax_exclusive: str
    tax_inclusive: str
    allowance_total: str | None
    charge_total: str | None
    prepaid: str | None
    rounding: str | None
    payable: str
    lines: tuple[LineView, ...] = field(default=())


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _rate(value: Decimal | None) -> str | None:
    return number(value) if value is not None else None


def _period(period: Period | None) -> tuple[str | None, str | None] | None:
    return (_date(period.start), _date(period.end)) if period is not None else None


def _dutch_addresses(document: Document, expense: bool) -> None:
    """A Dutch supplier's address, and a Dutch customer's, holds street, postal code and city (NL-R-002, NL-R-004):
    said here at the input's field, not after rendering at an XPath."""
    seller = ("supplier.invoice_address", document.counterparty.invoice_address) if expense else (
        "company.address", document.company.address)
    buyer = ("company.address", document.company.address) if expense else (
        "customer.invoice_address", document.counterparty.invoice_address)
    for (field_name, address), party, rule_id in ((seller, "supplier", "NL-R-002"), (buyer, "customer", "NL-R-004")):
        if address.country != "NL":
            continue
        missing = [name for name in ("street", "postal_code", "city") if not getattr(address, name)]
        if missing:
            raise InputError(f"{document.label}: {field_name}: a Dutch supplier's invoice gives the {party}'s "
                             f"street, postal_code and city ({rule_id}); add its {' and '.join(missing)}")


SWEDISH_RATES = frozenset({Decimal(6), Decimal(12), Decimal(25)})
_ITALIAN_TAX_ID = re.compile(r"[A-Z0-9]{11,16}")


def rules_country(party: Party) -> str:
    """The supplier's country as the Peppol rules of Italy and Greece find it ($supplierCountry): its VAT number's
    prefix (EL for Greece), else its address; a supplier with an EL number and an address abroad is Greek to them."""
    prefix = party.vat_number[:2].upper() if party.vat_number else ""
    return "GR" if prefix == "EL" else prefix or party.invoice_address.country


def _national_supplier(document: Document) -> None:
    """What Peppol's national rules ask of a supplier's expense that only the input can say, at its field rather
    than after rendering at an XPath: a Dutch supplier's credit note names the invoice it credits (NL-R-001), an
    Italian supplier's address gives street and postal code and its tax registration is 11 to 16 letters and digits
    (IT-R-001/002/004), a Swedish supplier charges 25, 12 or 6 % (SE-R-006, for an SE address and VAT number)."""
    supplier = document.counterparty
    address = supplier.invoice_address
    if (document.credit_note and address.country == "NL" and document.credited_invoice is None
            and not document.preceding_invoices):
        raise InputError(f"{document.label}: credited_invoice: a Dutch supplier's credit note names the invoice it "
                         "credits (NL-R-001): give its number, and its issue date when the credit note says it")
    if rules_country(supplier) == "IT":
        missing = [name for name in ("street", "postal_code") if not getattr(address, name)]
        if missing:
            raise InputError(f"{document.label}: supplier.invoice_address: an Italian supplier's invoice gives its "
                             f"street and postal_code (IT-R-002, IT-R-004); add its {' and '.join(missing)}")
        registration = supplier.tax_registration
        if registration is not None and not _ITALIAN_TAX_ID.fullmatch(registration.strip()):
            raise InputError(f"{document.label}: supplier.tax_registration: an Italian supplier's tax registration "
                             "(codice fiscale or partita IVA) is 11 to 16 capital letters and digits (IT-R-001)")
    if address.country == "SE" and (supplier.vat_number or "").upper().startswith("SE"):
        items: tuple[tuple[str, Sequence[VatMixin]], ...] = (("lines", document.lines),
                                                             ("allowances_charges", document.allowances_charges))
        for name, group in items:
            for i, item in enumerate(group):
                if item.vat_category == "S" and item.vat_rate not in SWEDISH_RATES:
                    raise InputError(f"{document.label}: {name}[{i}]: a Swedish supplier charges 25, 12 or 6 % "
                                     f"VAT (SE-R-006), not {number(item.vat_rate or Decimal(0))} %")


# The CustomizationID and ProfileID of each profile (anything else: Peppol BIS Billing 3.0)
_SPECIFICATIONS: dict[str, tuple[str, str | None]] = {
    "en16931": (EN16931_CUSTOMIZATION, None),
    "nlcius": (NLCIUS_CUSTOMIZATION, PEPPOL_PROFILE),
}


def build(document: Document, *, profile: str | None = None, pdf: bytes | None = None,
          totals: Totals | None = None) -> UblView:
    """The view of a document for the templates. `pdf` is embedded as an AdditionalDocumentReference.

    `profile` is "peppol", "nlcius" or "en16931"; by default the one profile_for chooses. Each step decides one
    part of the UBL and refuses, naming the field, what the profile's rules would refuse after rendering; the steps
    run in this order so that a document with several faults is always refused for the same one first."""
    profile = profile or profile_for(document)
    if document.kind == DocumentKind.quote:
        raise InputError(f"{document.label}: a quote is not an invoice and never becomes an e-invoice")
    totals = totals or compute(document)
    expense = document.kind == DocumentKind.expense
    supplier, customer = _parties(document, profile, totals, expense)
    customization, profile_id = _SPECIFICATIONS.get(profile, (PEPPOL_CUSTOMIZATION, PEPPOL_PROFILE))
    seller = seller_country(document)
    _national_rules(document, profile, totals, expense, seller)
    payment = _payment(document, profile, totals, supplier, customer, expense, seller)
    attachments = _attachments(document, pdf)
    delivery = _delivery(document, totals, expense)
    lines = _lines(totals)
    return UblView(
        root="CreditNote" if document.is_credit else "Invoice",
        customization_id=customization,
        profile_id=profile_id,
        number=document.number,
        issue_date=document.issue_date.isoformat(),
        due_date=_date(document.due_date),
        type_code=TYPE_CODES[DocumentKind.credit_note if document.is_credit else document.kind],
        note=document_note(document, totals),
        currency=document.currency,
        tax_currency=document.tax_currency,
        # PEPPOL-EN16931-R003 wants a buyer reference or an order reference: our own number only fills the gap.
        buyer_reference=document.buyer_reference or (None if document.order_reference else document.number),
        order_reference=document.order_reference,
        period=_period(document.period),
        billing_references=_billing_references(document, profile),
        attachments=attachments,
        supplier=supplier,
        customer=customer,
        delivery=delivery,
        payment=payment,
        allowances_charges=tuple(
            AllowanceChargeView("true" if a.charge else "false", a.reason_code, a.reason, money(a.amount),
                                a.vat_category.value, _rate(a.vat_rate))
            for a in document.allowances_charges
        ),
        tax_amount=money(totals.vat_total),
        tax_amount_tax_currency=money(totals.vat_total_tax_currency)
        if totals.vat_total_tax_currency is not None else None,
        vat=_vat_breakdown(document, totals, seller),
        line_total=money(totals.line_total),
        tax_exclusive=money(totals.tax_exclusive),
        tax_inclusive=money(totals.tax_inclusive),
        allowance_total=money(totals.allowance_total) if document.allowances_charges else None,
        charge_total=money(totals.charge_total) if document.allowances_charges else None,
        prepaid=money(totals.prepaid) if totals.prepaid else None,
        rounding=money(totals.rounding) if totals.rounding else None,
        payable=money(totals.payable),
        lines=lines,
    )


def _parties(document: Document, profile: str, totals: Totals, expense: bool) -> tuple[PartyView, PartyView]:
    """The supplier and the customer (an expense's supplier is the counterparty), with what each profile and rule
    wants left out of them; refused when Peppol could not address either."""
    company = company_party(document.company)
    other = counterparty(document.counterparty)
    if expense or profile == "nlcius":
        # BT-33 is the seller's; NLCIUS advises against it (BR-NL-26: Dutch law has no such mention)
        company = replace(company, legal_form=None)
    supplier, customer = (other, company) if expense else (company, other)
    if profile != "en16931" and not (supplier.endpoint and customer.endpoint):
        raise InputError(f"{document.label}: both parties need an enterprise, KvK or VAT number for a Peppol "
                         "electronic address (PEPPOL-EN16931-R010/R020)")
    if any(g.category == "O" for g in totals.vat_groups):
        # BR-O-02/03/04: a document not subject to VAT carries no VAT identifier of either party.
        supplier, customer = replace(supplier, vat_number=None), replace(customer, vat_number=None)
    # The relation code is the debtor (creditor) number Yuki books on: it reads it from the customer's
    # SupplierAssignedAccountID (the supplier's CustomerAssignedAccountID), and reads a PartyIdentification as a KvK
    # or trade register number. So the code stands there only for a supplier with no other identifier, where
    # BR-CO-26 needs a seller identifier (BT-29); UBL-CR-202/-138 say "should not" of the account ids: warnings.
    if customer.identifier is not None:
        customer = replace(customer, identifier=None)
    if supplier.identifier is not None and (supplier.legal_id or supplier.vat_number):
        supplier = replace(supplier, identifier=None)
    return supplier, customer


def _national_rules(document: Document, profile: str, totals: Totals, expense: bool, seller: str) -> None:
    """Refuse, at the input's field, what the national rules would refuse of the rendered UBL: a Dutch supplier's
    invoice says how to pay (NL-R-007) and gives full Dutch addresses; a supplier's expense meets its country's
    rules (_national_supplier)."""
    pay = document.payment
    has_account = bool((pay and pay.iban) or (document.counterparty.iban if expense else document.company.iban))
    # A credit note asks no payment of the customer: the seller's account is not offered as payee unless the
    # payment block says so (a refund), and NL-R-007 wants means of payment only from customer to supplier.
    credit = document.is_credit  # (a supplier's credit note asks no payment of us either)
    if seller == "NL" and not credit and totals.payable > 0 and not (
            has_account or (pay and pay.means_code not in ("30", "58"))):
        where = "supplier.iban" if expense else "company.iban"
        raise InputError(f"{document.label}: a Dutch supplier's invoice must say how to pay (NL-R-007): "
                         f"give {where} or payment.iban, or payment.means_code for a payment without an account "
                         "(48 card, 10 cash, ...)")
    if seller == "NL" and profile == "peppol":
        _dutch_addresses(document, expense)
    if expense and profile == "peppol" and input_rules():
        _national_supplier(document)


def _payment(document: Document, profile: str, totals: Totals, supplier: PartyView, customer: PartyView,
             expense: bool, seller: str) -> PaymentView | None:
    """PaymentMeans and PaymentTerms: how the buyer pays into the seller's account, or what a credit note says of
    its refund; refused under NLCIUS when a Dutch supplier's document does not say how it is paid (BR-NL-11)."""
    pay = document.payment
    payee = document.counterparty if expense else document.company
    credit = document.is_credit
    payment = None
    if credit and not (pay and pay.iban):
        payment = _refund(document, seller)
    elif pay is not None or (payee.iban and not credit):
        payment = _transfer(document, profile, payee, supplier, customer, expense)
    if profile == "nlcius" and seller == "NL" and totals.payable > 0 and (payment is None or not payment.means_code):
        # (a credit note's positive amount is payable too: NLCIUS wants to know how the refund goes)
        raise InputError(f"{document.label}: under NLCIUS a Dutch supplier's {document.kind.value.replace('_', ' ')} "
                         "states how it is paid (BR-NL-11): give payment.iban (for a credit note the customer's "
                         "account for the refund), or payment.means_code 57 (standing agreement) or 48 (bank card)")
    return payment


def _refund(document: Document, seller: str) -> PaymentView | None:
    """A credit note without the customer's account: it asks no payment, so no account is offered as payee.

    What it says about the refund (a reference, terms, a due date: BT-9 sits in PaymentMeans in a CreditNote) is
    kept, with means code 1 ("instrument not defined") unless a means without an account was given: a transfer (30,
    58, often written on every document by invoicing systems) has no account to go to here."""
    pay = document.payment
    reference = pay.reference if pay else None
    code = pay.means_code if pay and pay.means_code not in ("30", "58") else "1"
    # NL-R-008: between Dutch parties a payment means is 30, 48, 49, 57, 58 or 59, and 30/58 need an account:
    # without the refund account such a credit note carries no PaymentMeans (its terms still go)
    dutch = seller == "NL" and document.counterparty.invoice_address.country == "NL" and code == "1"
    if dutch and reference and input_rules():
        # the reference would have nowhere to go: refuse rather than drop it without a word (a document stored
        # before this rule goes as it was checked then, without it)
        raise InputError(f"{document.label}: between Dutch parties a credit note states a payment reference only "
                         "with a means of payment, and NL-R-008 allows none without an account: give the "
                         "customer's account for the refund (payment.iban), payment.means_code 57 (standing "
                         "agreement) or 48 (bank card), or leave payment.reference out")
    if not dutch and (reference or document.due_date or (pay is not None and code != "1")):
        return PaymentView(means_code=code, reference=reference, iban=None, account_name=None, bic=None,
                           terms=pay.terms if pay else None)
    if pay is not None and pay.terms:
        return PaymentView(means_code=None, reference=None, iban=None, account_name=None, bic=None, terms=pay.terms)
    return None


def _transfer(document: Document, profile: str, payee: Company | Party, supplier: PartyView, customer: PartyView,
              expense: bool) -> PaymentView:
    """The payment block, or the seller's account (PAYEE's): a credit note's refund goes to the customer's account
    (payment.iban), never the seller's. A credit transfer needs an account (BR-61)."""
    pay = document.payment
    iban = pay.iban if pay and pay.iban else payee.iban
    code = pay.means_code if pay else "30"
    if code in ("30", "58") and not iban:
        where = "supplier.iban (the supplier's account)" if expense else "company.iban"
        raise InputError(f"{document.label}: payment by credit transfer (code {code}) needs the seller's IBAN: "
                         f"give payment.iban or {where} (BR-61)")
    return PaymentView(
        means_code=code,
        reference=pay.reference if pay else None,
        iban=iban,
        # (NLCIUS advises against the account name, BR-NL-30: the IBAN alone names the account)
        account_name=(customer if document.is_credit else supplier).registration_name
        if iban and profile != "nlcius" else None,
        # The seller's BIC belongs to the seller's IBAN only: another account gets its own BIC or none.
        bic=(pay.bic if pay and pay.bic else payee.bic if iban == payee.iban else None) if iban else None,
        terms=pay.terms if pay else None,
    )


def _attachments(document: Document, pdf: bytes | None) -> tuple[AttachmentView, ...]:
    """The visual copy as an AdditionalDocumentReference (BT-125), when there is one: the mimeCode and the file name
    follow the content (a photographed receipt is a JPEG), and the name is a plain file name (a number such as
    2026/0001 is not a path), as the e-mail attachment's is."""
    if pdf is None:
        return ()
    given = document.pdf.filename if document.pdf else None
    filetype = visual_copy_type(pdf, document.label, given)
    name = named_for(given, filetype) if given else safe_filename(document.number, filetype.extension)
    return (AttachmentView(id=document.number, description=document.label, filename=name,
                           mime=filetype.mime, content_base64=base64.b64encode(pdf).decode()),)


def _delivery(document: Document, totals: Totals, expense: bool) -> DeliveryView | None:
    """The delivery (BG-13), given or needed by an intra-Community supply (BR-IC-11/12).

    BT-72 states a fact (the tax point): given, or the issue date only where BR-IC-11 needs a date and the README
    says so (an intra-Community supply without an invoicing period, which BR-IC-11 takes instead); a delivery address
    alone states no date. BT-75..80 likewise: given, or the buyer's address only where BR-IC-12 needs a country to
    deliver to (an intra-Community supply); a delivery date alone does not say where (a renovation site at 6 % is a
    legal mention, and the invoice address is not it)."""
    intra_community = any(g.category == "K" for g in totals.vat_groups)
    if document.delivery is None and not intra_community:
        return None
    d = document.delivery
    date = d.date if d and d.date else document.issue_date if intra_community and document.period is None else None
    address = d.address if d and d.address else None if not intra_community \
        else document.counterparty.invoice_address if not expense else document.company.address
    return DeliveryView(_date(date), AddressView.of(address) if address is not None else None)


def _lines(totals: Totals) -> tuple[LineView, ...]:
    """The invoice lines (BG-25), numbered from 1, with their net amounts and own allowances and charges."""
    lines = []
    rates: dict[Decimal, str] = {}  # a document has few distinct rates: format each once (equal Decimals print alike)
    for i, lt in enumerate(totals.lines, start=1):
        line = lt.line
        rate, vat_rate = line.vat_rate, None
        if rate is not None:
            vat_rate = rates.get(rate)
            if vat_rate is None:
                vat_rate = rates[rate] = number(rate)
        lines.append(LineView(
            id=str(i), quantity=number(line.quantity), unit_code=line.unit_code, net=money(lt.net),
            allowances_charges=tuple(
                AllowanceChargeView("true" if a.charge else "false", a.reason_code, a.reason, money(a.amount))
                for a in line.allowances_charges
            ) if line.allowances_charges else (),
            description=line.description, name=line.name, seller_item_id=line.seller_item_id,
            vat_category=line.vat_category.value, vat_rate=vat_rate,
            price=price(line.unit_price), period=_period(line.period),
        ))
    return tuple(lines)


def _billing_references(document: Document, profile: str) -> tuple[tuple[str, str | None], ...]:
    """The invoices the document credits or follows (BG-3), the credited one first. (NLCIUS advises against the
    preceding invoice's date, BR-NL-24: the number identifies it.)"""
    credited = document.credited_invoice
    references = [credited, *document.preceding_invoices] if credited is not None else document.preceding_invoices
    return tuple((r.number, None if profile == "nlcius" else _date(r.issue_date)) for r in references)


def _vat_breakdown(document: Document, totals: Totals, seller: str) -> tuple[VatView, ...]:
    """One VAT subtotal (BG-23) per category and rate, with the exemption reason in the company's language and the
    seller's country's words."""
    return tuple(
        VatView(money(g.taxable), money(g.tax), g.category.value, _rate(g.rate), g.exemption_reason_code,
                exemption_text(g.category, g.exemption_reason, document.company.language.value,
                               seller, document.company.address.country, g.exemption_reason_code))
        for g in totals.vat_groups
    )
