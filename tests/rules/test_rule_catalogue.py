"""One broken variant per rule id: the rule fires on the variant and not on the good document.

Each case names the rule id (the test id), the reference document it starts from, the profile, and a mutation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from lxml import etree

from tests.rules.helpers import (
    CUS,
    L1,
    LMT,
    ST,
    SUP,
    VAT,
    Mutation,
    add,
    attr,
    drop,
    fired,
    insert,
    load,
    one,
    remove,
    seq,
    set_attr,
    set_text,
    text,
    xp,
)

CHARGE = "cac:AllowanceCharge[cbc:ChargeIndicator='true']"
ALLOW = "cac:AllowanceCharge[cbc:ChargeIndicator='false']"


def cat(code: str, percent: str | None = "25") -> str:
    rate = f"<cbc:Percent>{percent}</cbc:Percent>" if percent is not None else ""
    return f"<cac:TaxCategory><cbc:ID>{code}</cbc:ID>{rate}{VAT}</cac:TaxCategory>"


def ac(
    charge: bool,
    amount: str | None = "10",
    reason: str | None = "Freight",
    category: str | None = None,
    extra: str = "",
) -> str:
    parts = [f"<cbc:ChargeIndicator>{'true' if charge else 'false'}</cbc:ChargeIndicator>"]
    if reason is not None:
        parts.append(f"<cbc:AllowanceChargeReason>{reason}</cbc:AllowanceChargeReason>")
    parts.append(extra)
    if amount is not None:
        parts.append(f'<cbc:Amount currencyID="EUR">{amount}</cbc:Amount>')
    if category is not None:
        parts.append(category)
    return f"<cac:AllowanceCharge>{''.join(parts)}</cac:AllowanceCharge>"


def add_doc_ac(snippet: str) -> Mutation:
    return lambda r: insert(r, ".", snippet, before="cac:TaxTotal")


def add_line_ac(snippet: str) -> Mutation:
    return lambda r: insert(r, L1, snippet, before="cac:Item")


def nl_supplier(customer_nl: bool = False) -> Mutation:
    """Turn base-example.xml into a clean document of a Dutch supplier (and optionally a Dutch customer)."""

    def run(r: etree._Element) -> None:
        set_text(r, f"{SUP}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "NL")
        set_text(r, f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", "NL123456789B01")
        set_text(r, f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", "12345678")
        set_attr(r, f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0106")
        if customer_nl:
            set_text(r, f"{CUS}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "NL")
            set_text(r, f"{CUS}/cac:PartyTaxScheme/cbc:CompanyID", "NL987654321B01")
            set_text(r, f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID", "87654321")
            set_attr(r, f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0106")

    return run


TAXREP_NL = (
    "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName><cac:PostalAddress>"
    "<cbc:StreetName>Straat 1</cbc:StreetName><cbc:CityName>Utrecht</cbc:CityName><cbc:PostalZone>3511AA"
    "</cbc:PostalZone><cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country>"
    f"</cac:PostalAddress><cac:PartyTaxScheme><cbc:CompanyID>NL1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>"
    "</cac:TaxRepresentativeParty>"
)
ADD_ORDER_REFERENCE = add(".", "<cac:OrderReference><cbc:ID>PO1</cbc:ID></cac:OrderReference>", before=f"{SUP}/..")


@dataclass(frozen=True)
class Case:
    rule: str
    mutate: Mutation
    doc: str = "base-example.xml"
    profile: str = "peppol"
    prepare: Mutation | None = None  # applied to both the good and the broken document


CASES: list[Case] = [
    # --- core BR-01 .. BR-65 --------------------------------------------------------------------------------------
    Case("BR-01", drop("cbc:CustomizationID")),
    Case("BR-02", text("cbc:ID", " ")),
    Case("BR-03", drop("cbc:IssueDate")),
    Case("BR-04", drop("cbc:InvoiceTypeCode")),
    Case("BR-05", drop("cbc:DocumentCurrencyCode")),
    Case("BR-06", drop(f"{SUP}/cac:PartyLegalEntity/cbc:RegistrationName")),
    Case("BR-07", drop(f"{CUS}/cac:PartyLegalEntity/cbc:RegistrationName")),
    Case("BR-08", drop(f"{SUP}/cac:PostalAddress")),
    Case("BR-09", drop(f"{SUP}/cac:PostalAddress/cac:Country")),
    Case("BR-10", drop(f"{CUS}/cac:PostalAddress")),
    Case("BR-11", drop(f"{CUS}/cac:PostalAddress/cac:Country")),
    Case("BR-12", drop(f"{LMT}/cbc:LineExtensionAmount")),
    Case("BR-13", drop(f"{LMT}/cbc:TaxExclusiveAmount")),
    Case("BR-14", drop(f"{LMT}/cbc:TaxInclusiveAmount")),
    Case("BR-15", drop(f"{LMT}/cbc:PayableAmount")),
    Case("BR-16", drop("cac:InvoiceLine")),
    Case(
        "BR-17",
        add(
            ".",
            "<cac:PayeeParty><cac:PartyIdentification><cbc:ID>P1</cbc:ID></cac:PartyIdentification></cac:PayeeParty>",
            before="cac:Delivery",
        ),
    ),
    Case(
        "BR-18",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PostalAddress><cac:Country><cbc:IdentificationCode>SE"
            "</cbc:IdentificationCode></cac:Country></cac:PostalAddress><cac:PartyTaxScheme>"
            f"<cbc:CompanyID>SE1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme></cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case(
        "BR-19",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>"
            f"<cac:PartyTaxScheme><cbc:CompanyID>SE1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>"
            "</cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case(
        "BR-20",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>"
            "<cac:PostalAddress><cbc:CityName>X</cbc:CityName></cac:PostalAddress><cac:PartyTaxScheme>"
            f"<cbc:CompanyID>SE1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme></cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case(
        "BR-56",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>"
            "<cac:PostalAddress><cac:Country><cbc:IdentificationCode>SE</cbc:IdentificationCode>"
            "</cac:Country></cac:PostalAddress></cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
    ),
    Case("BR-21", text(f"{L1}/cbc:ID", " ")),
    Case("BR-22", drop(f"{L1}/cbc:InvoicedQuantity")),
    Case("BR-23", attr(f"{L1}/cbc:InvoicedQuantity", "unitCode", None)),
    Case("BR-24", drop(f"{L1}/cbc:LineExtensionAmount")),
    Case("BR-25", drop(f"{L1}/cac:Item/cbc:Name")),
    Case("BR-26", drop(f"{L1}/cac:Price/cbc:PriceAmount")),
    Case("BR-27", text(f"{L1}/cac:Price/cbc:PriceAmount", "-400")),
    Case(
        "BR-28",
        add(f"{L1}/cac:Price", ac(False, "1", None, extra='<cbc:BaseAmount currencyID="EUR">-1</cbc:BaseAmount>')),
    ),
    Case(
        "BR-29",
        add(
            ".",
            "<cac:InvoicePeriod><cbc:StartDate>2017-12-01</cbc:StartDate><cbc:EndDate>2017-11-01"
            "</cbc:EndDate></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
    ),
    Case(
        "BR-30",
        add(
            L1,
            "<cac:InvoicePeriod><cbc:StartDate>2017-12-01</cbc:StartDate><cbc:EndDate>2017-11-01"
            "</cbc:EndDate></cac:InvoicePeriod>",
            before="cac:OrderLineReference",
        ),
    ),
    Case("BR-31", add_doc_ac(ac(False, None, category=cat("S")))),
    Case("BR-32", add_doc_ac(ac(False, "0"))),
    Case("BR-33", add_doc_ac(ac(False, "0", None, category=cat("S")))),
    Case("BR-36", drop(f"{CHARGE}/cbc:Amount")),
    Case("BR-37", drop(f"{CHARGE}/cac:TaxCategory")),
    Case("BR-38", drop(f"{CHARGE}/cbc:AllowanceChargeReason")),
    Case("BR-41", add_line_ac(ac(False, None))),
    Case("BR-42", add_line_ac(ac(False, "0", None))),
    Case("BR-43", add_line_ac(ac(True, None))),
    Case("BR-44", add_line_ac(ac(True, "0", None))),
    Case("BR-45", drop(f"{ST}/cbc:TaxableAmount")),
    Case("BR-46", drop(f"{ST}/cbc:TaxAmount")),
    Case("BR-47", drop(f"{ST}/cac:TaxCategory/cbc:ID")),
    Case("BR-48", drop(f"{ST}/cac:TaxCategory/cbc:Percent")),
    Case("BR-49", drop("cac:PaymentMeans/cbc:PaymentMeansCode")),
    Case("BR-50", text("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", " ")),
    Case(
        "BR-51",
        add(
            "cac:PaymentMeans",
            "<cac:CardAccount><cbc:PrimaryAccountNumberID>1234567890123456"
            "</cbc:PrimaryAccountNumberID><cbc:NetworkID>VISA</cbc:NetworkID>"
            "</cac:CardAccount>",
            before="cac:PayeeFinancialAccount",
        ),
    ),
    Case(
        "BR-52",
        add(
            ".",
            "<cac:AdditionalDocumentReference><cbc:ID> </cbc:ID></cac:AdditionalDocumentReference>",
            before=f"{SUP}/..",
        ),
    ),
    Case("BR-53", add(".", "<cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>", before="cbc:AccountingCost")),
    Case(
        "BR-54",
        add(
            f"{L1}/cac:Item",
            "<cac:AdditionalItemProperty><cbc:Name>Colour</cbc:Name></cac:AdditionalItemProperty>",
            before="cac:ClassifiedTaxCategory",
        ),
    ),
    Case(
        "BR-55",
        add(
            ".",
            "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:IssueDate>2017-01-01"
            "</cbc:IssueDate></cac:InvoiceDocumentReference></cac:BillingReference>",
            before=f"{SUP}/..",
        ),
    ),
    Case("BR-57", drop("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country")),
    Case("BR-61", drop("cac:PaymentMeans/cac:PayeeFinancialAccount")),
    Case("BR-62", attr(f"{SUP}/cbc:EndpointID", "schemeID", None)),
    Case("BR-63", attr(f"{CUS}/cbc:EndpointID", "schemeID", None)),
    Case("BR-64", attr(f"{L1}/cac:Item/cac:StandardItemIdentification/cbc:ID", "schemeID", None)),
    Case("BR-65", attr(f"{L1}/cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode", "listID", None)),
    # --- BR-CO ------------------------------------------------------------------------------------------------------
    Case(
        "BR-CO-03",
        seq(
            add(".", "<cbc:TaxPointDate>2017-11-01</cbc:TaxPointDate>", before="cbc:InvoiceTypeCode"),
            add(
                ".",
                "<cac:InvoicePeriod><cbc:DescriptionCode>3</cbc:DescriptionCode></cac:InvoicePeriod>",
                before=f"{SUP}/..",
            ),
        ),
    ),
    Case("BR-CO-04", text(f"{L1}/cac:Item/cac:ClassifiedTaxCategory/cac:TaxScheme/cbc:ID", "GST")),
    Case("BR-CO-09", text(f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", "XY1232434")),
    Case("BR-CO-10", text(f"{LMT}/cbc:LineExtensionAmount", "1300.01")),
    Case(
        "BR-CO-11",
        add(
            LMT,
            '<cbc:AllowanceTotalAmount currencyID="EUR">10</cbc:AllowanceTotalAmount>',
            before="cbc:ChargeTotalAmount",
        ),
    ),
    Case("BR-CO-12", text(f"{LMT}/cbc:ChargeTotalAmount", "20")),
    Case("BR-CO-13", text(f"{LMT}/cbc:TaxExclusiveAmount", "1326")),
    Case("BR-CO-14", text("cac:TaxTotal/cbc:TaxAmount", "331.26")),
    Case("BR-CO-15", text(f"{LMT}/cbc:TaxInclusiveAmount", "1656.26")),
    Case("BR-CO-16", text(f"{LMT}/cbc:PayableAmount", "1656.24")),
    Case("BR-CO-17", seq(text("cac:TaxTotal/cbc:TaxAmount", "333.25"), text(f"{ST}/cbc:TaxAmount", "333.25"))),
    Case("BR-CO-18", drop(ST)),
    Case(
        "BR-CO-19",
        add(".", "<cac:InvoicePeriod><cbc:Description>Q4</cbc:Description></cac:InvoicePeriod>", before=f"{SUP}/.."),
    ),
    Case(
        "BR-CO-20",
        add(
            L1,
            "<cac:InvoicePeriod><cbc:Description>Q4</cbc:Description></cac:InvoicePeriod>",
            before="cac:OrderLineReference",
        ),
    ),
    Case("BR-CO-21", add_doc_ac(ac(False, "0", None, category=cat("S")))),
    Case("BR-CO-22", drop(f"{CHARGE}/cbc:AllowanceChargeReason")),
    Case("BR-CO-23", add_line_ac(ac(False, "0", None))),
    Case("BR-CO-24", add_line_ac(ac(True, "0", None))),
    Case("BR-CO-25", seq(drop("cbc:DueDate"), drop("cac:PaymentTerms"))),
    Case(
        "BR-CO-26",
        seq(
            drop(f"{SUP}/cac:PartyIdentification"),
            drop(f"{SUP}/cac:PartyTaxScheme"),
            drop(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID"),
        ),
    ),
    # --- BR-DEC -----------------------------------------------------------------------------------------------------
    Case("BR-DEC-01", text(f"{ALLOW}/cbc:Amount", "200.000"), doc="Allowance-example.xml"),
    Case(
        "BR-DEC-02",
        add(ALLOW, '<cbc:BaseAmount currencyID="EUR">1000.000</cbc:BaseAmount>', before="cac:TaxCategory"),
        doc="Allowance-example.xml",
    ),
    Case("BR-DEC-05", text(f"{CHARGE}/cbc:Amount", "25.000")),
    Case(
        "BR-DEC-06", add(CHARGE, '<cbc:BaseAmount currencyID="EUR">100.001</cbc:BaseAmount>', before="cac:TaxCategory")
    ),
    Case("BR-DEC-09", text(f"{LMT}/cbc:LineExtensionAmount", "1300.000")),
    Case(
        "BR-DEC-10",
        add(
            LMT,
            '<cbc:AllowanceTotalAmount currencyID="EUR">0.000</cbc:AllowanceTotalAmount>',
            before="cbc:ChargeTotalAmount",
        ),
    ),
    Case("BR-DEC-11", text(f"{LMT}/cbc:ChargeTotalAmount", "25.000")),
    Case("BR-DEC-12", text(f"{LMT}/cbc:TaxExclusiveAmount", "1325.000")),
    Case("BR-DEC-14", text(f"{LMT}/cbc:TaxInclusiveAmount", "1656.250")),
    Case(
        "BR-DEC-16",
        add(LMT, '<cbc:PrepaidAmount currencyID="EUR">0.000</cbc:PrepaidAmount>', before="cbc:PayableAmount"),
    ),
    Case(
        "BR-DEC-17",
        add(
            LMT,
            '<cbc:PayableRoundingAmount currencyID="EUR">0.000</cbc:PayableRoundingAmount>',
            before="cbc:PayableAmount",
        ),
    ),
    Case("BR-DEC-18", text(f"{LMT}/cbc:PayableAmount", "1656.250")),
    Case("BR-DEC-19", text(f"{ST}/cbc:TaxableAmount", "1325.000")),
    Case("BR-DEC-20", text(f"{ST}/cbc:TaxAmount", "331.250")),
    Case("BR-DEC-23", text(f"{L1}/cbc:LineExtensionAmount", "2800.000")),
    Case("BR-DEC-24", text(f"{L1}/{ALLOW}/cbc:Amount", "101.000"), doc="Allowance-example.xml"),
    Case(
        "BR-DEC-25",
        add(f"{L1}/{ALLOW}", '<cbc:BaseAmount currencyID="EUR">1.000</cbc:BaseAmount>'),
        doc="Allowance-example.xml",
    ),
    Case("BR-DEC-27", text(f"{L1}/{CHARGE}/cbc:Amount", "1.000"), doc="Allowance-example.xml"),
    Case("BR-DEC-28", text(f"{L1}/{CHARGE}/cbc:BaseAmount", "100.000"), doc="Allowance-example.xml"),
    # --- BR-CL ------------------------------------------------------------------------------------------------------
    Case("BR-CL-01", text("cbc:InvoiceTypeCode", "999")),
    Case("BR-CL-03", attr(f"{L1}/cbc:LineExtensionAmount", "currencyID", "EURO")),
    Case("BR-CL-04", text("cbc:DocumentCurrencyCode", "EURO")),
    Case("BR-CL-05", add(".", "<cbc:TaxCurrencyCode>EURO</cbc:TaxCurrencyCode>", before="cbc:AccountingCost")),
    Case(
        "BR-CL-06",
        add(
            ".",
            "<cac:InvoicePeriod><cbc:DescriptionCode>99</cbc:DescriptionCode></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
    ),
    Case(
        "BR-CL-07",
        add(
            ".",
            '<cac:AdditionalDocumentReference><cbc:ID schemeID="QQQQ">1</cbc:ID>'
            "<cbc:DocumentTypeCode>130</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>",
            before=f"{SUP}/..",
        ),
    ),
    Case("BR-CL-08", add(".", "<cbc:Note>#XYZ#Some note</cbc:Note>", before="cbc:DocumentCurrencyCode")),
    Case("BR-CL-10", attr(f"{CUS}/cac:PartyIdentification/cbc:ID", "schemeID", "0092")),
    Case("BR-CL-11", attr(f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "9999")),
    Case("BR-CL-13", attr(f"{L1}/cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode", "listID", "XX")),
    Case("BR-CL-14", text(f"{CUS}/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "XX")),
    Case("BR-CL-15", text(f"{L1}/cac:Item/cac:OriginCountry/cbc:IdentificationCode", "XX")),
    Case("BR-CL-16", text("cac:PaymentMeans/cbc:PaymentMeansCode", "71")),
    Case("BR-CL-17", text(f"{ST}/cac:TaxCategory/cbc:ID", "X")),
    Case("BR-CL-18", text(f"{L1}/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "X")),
    Case("BR-CL-19", text(f"{ALLOW}/cbc:AllowanceChargeReasonCode", "1"), doc="Allowance-example.xml"),
    Case("BR-CL-20", text(f"{CHARGE}/cbc:AllowanceChargeReasonCode", "ZZ"), doc="Allowance-example.xml"),
    Case("BR-CL-21", attr(f"{L1}/cac:Item/cac:StandardItemIdentification/cbc:ID", "schemeID", "GTIN")),
    Case(
        "BR-CL-22", text(f"{ST}/cac:TaxCategory/cbc:TaxExemptionReasonCode", "VATEX-EU-999"), doc="vat-category-E.xml"
    ),
    Case("BR-CL-23", attr(f"{L1}/cbc:InvoicedQuantity", "unitCode", "DAYS")),
    Case(
        "BR-CL-24",
        add(
            ".",
            "<cac:AdditionalDocumentReference><cbc:ID>A</cbc:ID><cac:Attachment>"
            '<cbc:EmbeddedDocumentBinaryObject mimeCode="application/zip" filename="a.zip">AAAA'
            "</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>",
            before=f"{SUP}/..",
        ),
    ),
    Case("BR-CL-25", attr(f"{SUP}/cbc:EndpointID", "schemeID", "9999")),
    Case("BR-CL-26", attr("cac:Delivery/cac:DeliveryLocation/cbc:ID", "schemeID", "XX")),
    # --- split payment --------------------------------------------------------------------------------------------
    Case("BR-B-01", seq(text(f"{L1}/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "B"))),
    Case("BR-B-02", seq(text(f"{L1}/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "B"))),
    # --- Peppol ---------------------------------------------------------------------------------------------------
    Case("PEPPOL-EN16931-R001", drop("cbc:ProfileID")),
    Case(
        "PEPPOL-EN16931-R002",
        add(".", "<cbc:Note>a</cbc:Note><cbc:Note>b</cbc:Note>", before="cbc:DocumentCurrencyCode"),
    ),
    Case("PEPPOL-EN16931-R003", drop("cbc:BuyerReference")),
    Case(
        "PEPPOL-EN16931-R004",
        text("cbc:CustomizationID", "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::x"),
    ),
    Case(
        "PEPPOL-EN16931-R005", add(".", "<cbc:TaxCurrencyCode>EUR</cbc:TaxCurrencyCode>", before="cbc:AccountingCost")
    ),
    Case("PEPPOL-EN16931-R007", text("cbc:ProfileID", "urn:fdc:peppol.eu:2017:poacc:billing:99:1.0")),
    Case("PEPPOL-EN16931-R008", add(".", "<cbc:Note> </cbc:Note>", before="cbc:DocumentCurrencyCode")),
    Case("PEPPOL-EN16931-R010", drop(f"{CUS}/cbc:EndpointID")),
    Case("PEPPOL-EN16931-R020", drop(f"{SUP}/cbc:EndpointID")),
    Case(
        "PEPPOL-EN16931-R040",
        text("cac:AllowanceCharge[cbc:MultiplierFactorNumeric='20']/cbc:Amount", "199.97"),
        doc="Allowance-example.xml",
    ),
    Case(
        "PEPPOL-EN16931-R041",
        drop("cac:AllowanceCharge[cbc:MultiplierFactorNumeric='20']/cbc:BaseAmount"),
        doc="Allowance-example.xml",
    ),
    Case(
        "PEPPOL-EN16931-R042",
        drop("cac:AllowanceCharge/cbc:MultiplierFactorNumeric[.='20']"),
        doc="Allowance-example.xml",
    ),
    Case("PEPPOL-EN16931-R043", text(f"{CHARGE}/cbc:ChargeIndicator", "TRUE")),
    Case("PEPPOL-EN16931-R044", add(f"{L1}/cac:Price", ac(True, "1", None))),
    Case(
        "PEPPOL-EN16931-R046",
        add(f"{L1}/cac:Price", ac(False, "5", None, extra='<cbc:BaseAmount currencyID="EUR">410</cbc:BaseAmount>')),
    ),
    Case("PEPPOL-EN16931-R051", attr(f"{L1}/cac:Price/cbc:PriceAmount", "currencyID", "SEK")),
    Case(
        "PEPPOL-EN16931-R053",
        add(
            ".",
            '<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">0</cbc:TaxAmount><cac:TaxSubtotal>'
            '<cbc:TaxableAmount currencyID="EUR">0</cbc:TaxableAmount><cbc:TaxAmount '
            f'currencyID="EUR">0</cbc:TaxAmount>{cat("S")}</cac:TaxSubtotal></cac:TaxTotal>',
            before=LMT,
        ),
    ),
    Case(
        "PEPPOL-EN16931-R054",
        add(".", '<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">331.25</cbc:TaxAmount></cac:TaxTotal>', before=LMT),
    ),
    Case(
        "PEPPOL-EN16931-R055",
        seq(
            add(".", "<cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>", before="cbc:AccountingCost"),
            add(".", '<cac:TaxTotal><cbc:TaxAmount currencyID="SEK">-3500</cbc:TaxAmount></cac:TaxTotal>', before=LMT),
        ),
    ),
    Case("PEPPOL-EN16931-R061", text("cac:PaymentMeans/cbc:PaymentMeansCode", "59")),
    Case(
        "PEPPOL-EN16931-R080",
        add(
            ".",
            "<cac:AdditionalDocumentReference><cbc:ID>P1</cbc:ID><cbc:DocumentTypeCode>50"
            "</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>"
            "<cac:AdditionalDocumentReference><cbc:ID>P2</cbc:ID><cbc:DocumentTypeCode>50"
            "</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>",
            before=f"{SUP}/..",
        ),
        doc="base-creditnote-correction.xml",
    ),
    Case(
        "PEPPOL-EN16931-R100",
        add(
            L1,
            "<cac:DocumentReference><cbc:ID>1</cbc:ID><cbc:DocumentTypeCode>130"
            "</cbc:DocumentTypeCode></cac:DocumentReference><cac:DocumentReference><cbc:ID>2"
            "</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode></cac:DocumentReference>",
            before="cac:Item",
        ),
    ),
    Case(
        "PEPPOL-EN16931-R101",
        add(
            L1,
            "<cac:DocumentReference><cbc:ID>1</cbc:ID><cbc:DocumentTypeCode>916"
            "</cbc:DocumentTypeCode></cac:DocumentReference>",
            before="cac:Item",
        ),
    ),
    Case(
        "PEPPOL-EN16931-R110",
        add(
            L1,
            "<cac:InvoicePeriod><cbc:StartDate>2017-10-01</cbc:StartDate></cac:InvoicePeriod>",
            before="cac:OrderLineReference",
        ),
        prepare=add(
            ".",
            "<cac:InvoicePeriod><cbc:StartDate>2017-11-01</cbc:StartDate><cbc:EndDate>2017-11-30"
            "</cbc:EndDate></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
    ),
    Case(
        "PEPPOL-EN16931-R111",
        add(
            L1,
            "<cac:InvoicePeriod><cbc:EndDate>2017-12-31</cbc:EndDate></cac:InvoicePeriod>",
            before="cac:OrderLineReference",
        ),
        prepare=add(
            ".",
            "<cac:InvoicePeriod><cbc:StartDate>2017-11-01</cbc:StartDate><cbc:EndDate>2017-11-30"
            "</cbc:EndDate></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
    ),
    Case("PEPPOL-EN16931-R120", text(f"{L1}/cbc:LineExtensionAmount", "2801")),
    Case("PEPPOL-EN16931-R121", add(f"{L1}/cac:Price", '<cbc:BaseQuantity unitCode="DAY">-1</cbc:BaseQuantity>')),
    Case("PEPPOL-EN16931-R130", add(f"{L1}/cac:Price", '<cbc:BaseQuantity unitCode="HUR">1</cbc:BaseQuantity>')),
    Case(
        "PEPPOL-EN16931-CL001",
        add(
            ".",
            "<cac:AdditionalDocumentReference><cbc:ID>A</cbc:ID><cac:Attachment>"
            '<cbc:EmbeddedDocumentBinaryObject mimeCode="text/xml" filename="a.xml">AAAA'
            "</cbc:EmbeddedDocumentBinaryObject></cac:Attachment>"
            "</cac:AdditionalDocumentReference>",
            before=f"{SUP}/..",
        ),
    ),
    Case("PEPPOL-EN16931-CL002", text(f"{ALLOW}/cbc:AllowanceChargeReasonCode", "999"), doc="Allowance-example.xml"),
    Case("PEPPOL-EN16931-CL003", text(f"{CHARGE}/cbc:AllowanceChargeReasonCode", "XXX"), doc="Allowance-example.xml"),
    Case(
        "PEPPOL-EN16931-CL006",
        add(
            ".",
            "<cac:InvoicePeriod><cbc:DescriptionCode>1</cbc:DescriptionCode></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
    ),
    Case("PEPPOL-EN16931-CL007", attr(f"{L1}/cbc:LineExtensionAmount", "currencyID", "ABC")),
    Case("PEPPOL-EN16931-CL008", attr(f"{SUP}/cbc:EndpointID", "schemeID", "0037")),
    Case("PEPPOL-EN16931-F001", text("cbc:DueDate", "2017-12-1")),
    Case("PEPPOL-EN16931-P0100", text("cbc:InvoiceTypeCode", "389")),
    Case("PEPPOL-EN16931-P0101", text("cbc:CreditNoteTypeCode", "261"), doc="base-creditnote-correction.xml"),
    Case("PEPPOL-EN16931-P0112", text("cbc:InvoiceTypeCode", "384")),
    *[
        Case(
            rid,
            add(
                f"{ST}/cac:TaxCategory",
                f"<cbc:TaxExemptionReasonCode>{code}</cbc:TaxExemptionReasonCode>",
                before="cac:TaxScheme",
            ),
        )
        for rid, code in (
            ("PEPPOL-EN16931-P0104", "VATEX-EU-G"),
            ("PEPPOL-EN16931-P0105", "VATEX-EU-O"),
            ("PEPPOL-EN16931-P0106", "VATEX-EU-IC"),
            ("PEPPOL-EN16931-P0107", "VATEX-EU-AE"),
            ("PEPPOL-EN16931-P0108", "VATEX-EU-D"),
            ("PEPPOL-EN16931-P0109", "VATEX-EU-F"),
            ("PEPPOL-EN16931-P0110", "VATEX-EU-I"),
            ("PEPPOL-EN16931-P0111", "VATEX-EU-J"),
        )
    ],
    # --- PEPPOL-COMMON identifiers ----------------------------------------------------------------------------------
    Case("PEPPOL-COMMON-R040", text(f"{SUP}/cbc:EndpointID", "9482348239847239875")),
    *[
        Case(
            rid,
            seq(
                attr(f"{SUP}/cac:PartyIdentification/cbc:ID", "schemeID", scheme),
                text(f"{SUP}/cac:PartyIdentification/cbc:ID", bad),
            ),
            prepare=seq(
                attr(f"{SUP}/cac:PartyIdentification/cbc:ID", "schemeID", scheme),
                text(f"{SUP}/cac:PartyIdentification/cbc:ID", good),
            ),
        )
        for rid, scheme, good, bad in (
            ("PEPPOL-COMMON-R041", "0192", "987654325", "987654321"),
            ("PEPPOL-COMMON-R042", "0184", "DK12345678", "DK1234567"),
            ("PEPPOL-COMMON-R043", "0208", "0403019261", "0403019262"),
            ("PEPPOL-COMMON-R044", "0201", "AB12CD", "AB12CD3"),
            ("PEPPOL-COMMON-R045", "0210", "RSSMRA85T10A562S", "RSSMRA85T10A56"),
            ("PEPPOL-COMMON-R047", "0211", "IT07643520567", "IT07643520568"),
            ("PEPPOL-COMMON-R049", "0007", "5560360793", "5560360794"),
            ("PEPPOL-COMMON-R050", "0151", "51824753556", "51824753557"),
            ("PEPPOL-COMMON-R052", "0096", "1234567890", "123456789"),
            ("PEPPOL-COMMON-R053", "0198", "DK12345678", "12345678"),
            ("PEPPOL-COMMON-R054", "0106", "12345678", "1234567"),
            ("PEPPOL-COMMON-R055", "0190", "00000001234567890000", "0000000123456789000"),
            ("PEPPOL-COMMON-R056-1", "9944", "NL123456789B01", "NL123456789"),
            ("PEPPOL-COMMON-R057", "0217", "123456789012", "12345678901"),
            ("PEPPOL-COMMON-R059", "0240", "20152212349", "20152212348"),
        )
    ],
    Case("PEPPOL-COMMON-R058", text(f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", "LU15027443")),
    Case("PEPPOL-COMMON-R062", text(f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", "BE0403019262")),
    Case(
        "PEPPOL-COMMON-R046", seq(attr(f"{SUP}/cbc:EndpointID", "schemeID", "9907"), text(f"{SUP}/cbc:EndpointID", "1"))
    ),
    Case("PEPPOL-COMMON-R056-2", text(f"{SUP}/cac:PartyTaxScheme/cbc:CompanyID", "NL123")),
    # --- NL-R (Peppol, Dutch supplier) ------------------------------------------------------------------------------
    Case("NL-R-001", drop("cac:BillingReference"), doc="base-creditnote-correction.xml", prepare=nl_supplier()),
    Case("NL-R-002", drop(f"{SUP}/cac:PostalAddress/cbc:CityName"), prepare=nl_supplier()),
    Case("NL-R-003", attr(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0088"), prepare=nl_supplier()),
    Case("NL-R-004", drop(f"{CUS}/cac:PostalAddress/cbc:StreetName"), prepare=nl_supplier(customer_nl=True)),
    Case(
        "NL-R-005",
        attr(f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0183"),
        prepare=nl_supplier(customer_nl=True),
    ),
    Case(
        "NL-R-006",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>"
            "<cac:PostalAddress><cbc:CityName>Utrecht</cbc:CityName><cac:Country>"
            "<cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>"
            f"<cac:PartyTaxScheme><cbc:CompanyID>NL1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>"
            "</cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
        prepare=nl_supplier(),
    ),
    Case("NL-R-007", drop("cac:PaymentMeans"), prepare=nl_supplier()),
    Case("NL-R-008", text("cac:PaymentMeans/cbc:PaymentMeansCode", "31"), prepare=nl_supplier(customer_nl=True)),
    Case("NL-R-009", drop("cac:OrderReference"), prepare=seq(nl_supplier(), ADD_ORDER_REFERENCE)),
    # --- NLCIUS BR-NL -----------------------------------------------------------------------------------------------
    Case(
        "BR-NL-1",
        attr(f"{SUP}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0088"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case("BR-NL-2", drop("cbc:BuyerReference"), profile="nlcius", prepare=nl_supplier()),
    Case("BR-NL-3", drop(f"{SUP}/cac:PostalAddress/cbc:PostalZone"), profile="nlcius", prepare=nl_supplier()),
    Case(
        "BR-NL-4",
        drop(f"{CUS}/cac:PostalAddress/cbc:CityName"),
        profile="nlcius",
        prepare=nl_supplier(customer_nl=True),
    ),
    Case(
        "BR-NL-5",
        add(
            ".",
            "<cac:TaxRepresentativeParty><cac:PartyName><cbc:Name>R</cbc:Name></cac:PartyName>"
            "<cac:PostalAddress><cbc:CityName>Utrecht</cbc:CityName><cac:Country>"
            "<cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>"
            f"<cac:PartyTaxScheme><cbc:CompanyID>NL1</cbc:CompanyID>{VAT}</cac:PartyTaxScheme>"
            "</cac:TaxRepresentativeParty>",
            before="cac:Delivery",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case("BR-NL-7", text("cbc:InvoiceTypeCode", "383"), profile="nlcius", prepare=nl_supplier()),
    Case("BR-NL-8", text("cbc:InvoiceTypeCode", "381"), profile="nlcius", prepare=nl_supplier()),
    Case("BR-NL-9", text("cbc:InvoiceTypeCode", "384"), profile="nlcius", prepare=nl_supplier()),
    Case(
        "BR-NL-10",
        attr(f"{CUS}/cac:PartyLegalEntity/cbc:CompanyID", "schemeID", "0183"),
        profile="nlcius",
        prepare=nl_supplier(customer_nl=True),
    ),
    Case("BR-NL-11", drop("cac:PaymentMeans"), profile="nlcius", prepare=nl_supplier()),
    Case("BR-NL-12", text("cac:PaymentMeans/cbc:PaymentMeansCode", "31"), profile="nlcius", prepare=nl_supplier()),
    Case("BR-NL-13", drop("cac:OrderReference"), profile="nlcius", prepare=ADD_ORDER_REFERENCE),
    Case(
        "BR-NL-19",
        add(".", "<cbc:TaxCurrencyCode>SEK</cbc:TaxCurrencyCode>", before="cbc:AccountingCost"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-20",
        add(".", "<cbc:TaxPointDate>2017-11-01</cbc:TaxPointDate>", before="cbc:InvoiceTypeCode"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-21",
        add(
            ".",
            "<cac:InvoicePeriod><cbc:DescriptionCode>3</cbc:DescriptionCode></cac:InvoicePeriod>",
            before=f"{SUP}/..",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-24",
        add(
            ".",
            "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>1</cbc:ID><cbc:IssueDate>"
            "2017-01-01</cbc:IssueDate></cac:InvoiceDocumentReference></cac:BillingReference>",
            before=f"{SUP}/..",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-25",
        add(
            SUP,
            "<cac:PartyTaxScheme><cbc:CompanyID>X</cbc:CompanyID><cac:TaxScheme><cbc:ID>TAX</cbc:ID>"
            "</cac:TaxScheme></cac:PartyTaxScheme>",
            before="cac:PartyLegalEntity",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-26",
        add(f"{SUP}/cac:PartyLegalEntity", "<cbc:CompanyLegalForm>BV</cbc:CompanyLegalForm>"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-27-1",
        add(
            f"{SUP}/cac:PostalAddress",
            "<cac:AddressLine><cbc:Line>3rd</cbc:Line></cac:AddressLine>",
            before="cac:Country",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-27-2",
        add(
            f"{CUS}/cac:PostalAddress",
            "<cac:AddressLine><cbc:Line>3rd</cbc:Line></cac:AddressLine>",
            before="cac:Country",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-27-4",
        add(
            "cac:Delivery/cac:DeliveryLocation/cac:Address",
            "<cac:AddressLine><cbc:Line>3rd</cbc:Line></cac:AddressLine>",
            before="cac:Country",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-27-3",
        add(
            ".",
            TAXREP_NL.replace(
                "<cac:Country>", "<cac:AddressLine><cbc:Line>3rd</cbc:Line></cac:AddressLine><cac:Country>"
            ),
            before="cac:Delivery",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-28-3",
        add(
            ".",
            TAXREP_NL.replace("<cac:Country>", "<cbc:CountrySubentity>UT</cbc:CountrySubentity><cac:Country>"),
            before="cac:Delivery",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-28-1",
        add(f"{SUP}/cac:PostalAddress", "<cbc:CountrySubentity>NH</cbc:CountrySubentity>", before="cac:Country"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-28-2",
        add(f"{CUS}/cac:PostalAddress", "<cbc:CountrySubentity>NH</cbc:CountrySubentity>", before="cac:Country"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-28-4",
        add(
            "cac:Delivery/cac:DeliveryLocation/cac:Address",
            "<cbc:CountrySubentity>NH</cbc:CountrySubentity>",
            before="cac:Country",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-29",
        attr("cac:PaymentMeans/cbc:PaymentMeansCode", "name", "Credit transfer"),
        profile="nlcius",
        prepare=seq(nl_supplier(), attr("cac:PaymentMeans/cbc:PaymentMeansCode", "name", None)),
    ),
    Case(
        "BR-NL-30",
        add(
            "cac:PaymentMeans/cac:PayeeFinancialAccount",
            "<cbc:Name>Acme</cbc:Name>",
            before="cac:FinancialInstitutionBranch",
        ),
        profile="nlcius",
        prepare=seq(nl_supplier(), drop("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:Name")),
    ),
    Case("BR-NL-31", text("cac:PaymentMeans/cbc:PaymentMeansCode", "58"), profile="nlcius", prepare=nl_supplier()),
    Case(
        "BR-NL-32-1",
        add(
            CHARGE,
            "<cbc:AllowanceChargeReasonCode>FC</cbc:AllowanceChargeReasonCode>",
            before="cbc:AllowanceChargeReason",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-33",
        add("cac:TaxTotal", '<cbc:TaxAmount currencyID="SEK">1</cbc:TaxAmount>', before="cac:TaxSubtotal"),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "BR-NL-35",
        add(
            f"{ST}/cac:TaxCategory",
            "<cbc:TaxExemptionReasonCode>VATEX-EU-F</cbc:TaxExemptionReasonCode>",
            before="cac:TaxScheme",
        ),
        profile="nlcius",
        prepare=nl_supplier(),
    ),
    Case(
        "SI-UBL-2", add(".", "<cbc:Note/>", before="cbc:DocumentCurrencyCode"), profile="nlcius", prepare=nl_supplier()
    ),
]


def _doc(case: Case) -> etree._Element:
    root = load(case.doc)
    if case.prepare is not None:
        case.prepare(root)
    return root


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_rule_fires_on_broken_variant(case: Case) -> None:
    good = _doc(case)
    assert case.rule not in fired(good, case.profile), f"{case.rule} fires on the good document"
    broken = _doc(case)
    case.mutate(broken)
    assert case.rule in fired(broken, case.profile)


def test_cases_are_unique() -> None:
    rules = [c.rule for c in CASES]
    assert len(rules) == len(set(rules))


def test_nl_rules_need_a_dutch_supplier() -> None:
    root = load()
    remove(root, "cac:PaymentMeans")
    assert not {r for r in fired(root) if r.startswith("NL-R")}
    assert not {r for r in fired(root, "nlcius") if r.startswith("BR-NL")} - {"BR-NL-13"}  # BR-NL-13: any supplier


def test_xp_helper_sanity() -> None:
    root = load()
    assert one(root, "cbc:ID").text == "Snippet1"
    assert len(xp(root, "cac:InvoiceLine")) == 2
