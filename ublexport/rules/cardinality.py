"""Peppol BIS Billing 3.1.0 inferred mandatory cardinalities: PEPPOL-EN16931-R140 .. -R276 ("X MUST contain exactly
one Y"), all fatal.

Source: the Schematron pattern ``inferred-mandatory-cardinality`` of OpenPeppol's November 2026 release (mandatory
from 2027-02-22), as published in the Peppol BIS *Self-Billing* 3.1.0 artefact (``PEPPOL-EN16931-UBL`` Schematron of
that release): its rule contexts, assert ids and tests are re-implemented below. The Billing 3.1.0 artefact was not
at hand; its ids are assumed to be the same, as the release notes (phax/phive-rules 4.7.3) give the same range
R140 .. R276 for Billing and Self-Billing. Nothing in the pattern is specific to self-billing: it only counts
children, never compares a type code or a party with another, so all 137 asserts are taken over. We apply them
ahead of the mandatory date: they are stricter rules, and a document valid under them stays valid.

Semantics, as in the compiled XSLT:

- Each rule context is a path of element names starting at ``ubl-invoice:Invoice`` or ``ubl-creditnote:CreditNote``
  (``ubl-invoice:Invoice/cac:AccountingSupplierParty/cac:Party``): an element is a context when its ancestors carry
  exactly those names. The pattern has no leading ``/``, so an Invoice or CreditNote element anywhere starts one
  (in practice only the document element); the credit note contexts and the invoice contexts are disjoint.
- Each assert is ``count(child) = 1``: the context element must have exactly one child of that name (none and two
  both fail). The asserts of one rule are independent; a context element that occurs several times is checked each
  time, and each one that fails is one violation, reported at the context element.
- Within the pattern a node is the context of the first rule that matches it only; as no context is a suffix of
  another (the document element's name only ever stands first), no node matches two rules here.

Speed: 137 asserts, some seventy a document, on contexts nearly every document has and nearly every document
passes. One pass, ``violations``, finds every violation at once (memoised per check); it is also the guard of the
whole block, so that in a clean document the runner asks it once and calls none of the rules. It does not walk the
contexts of a clean document either: ``_clean`` shows from the tag index, with one comparison of two lists, that
every element that may be a context has one of each child it wants (see the comment above it). Only where that
cannot be shown are the contexts walked from the document element down, each looked at (``_walk``).
"""

from __future__ import annotations

from itertools import accumulate, chain, repeat, starmap
from operator import truth
from typing import Any

from lxml import etree

from ublexport.rules._doc import CREDITNOTE, INVOICE, Doc, Element, cac, cbc, kids
from ublexport.rules.peppol import FAMILY
from ublexport.rules.registry import Check, rule

_MEMO = "cardinality.violations"  # the doc.memo key of the shared pass
_NONE: tuple[Element, ...] = ()

# --- the pattern: each rule's context (below the document element) and its asserts (rule number, child) ----------

_CREDITNOTE_RULES: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = (
    (
        "",
        (
            (140, "cac:AccountingCustomerParty"),
            (205, "cbc:CreditNoteTypeCode"),
            (206, "cbc:CustomizationID"),
            (207, "cbc:DocumentCurrencyCode"),
            (208, "cbc:ProfileID"),
        ),
    ),
    ("cac:AccountingCustomerParty", ((141, "cac:Party"),)),
    (
        "cac:AccountingCustomerParty/cac:Party",
        ((142, "cac:PartyLegalEntity"), (146, "cac:PostalAddress"), (150, "cbc:EndpointID")),
    ),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity", ((143, "cbc:RegistrationName"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme", ((145, "cbc:CompanyID"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme", ((144, "cbc:ID"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress", ((148, "cac:Country"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:AddressLine", ((147, "cbc:Line"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country", ((149, "cbc:IdentificationCode"),)),
    ("cac:AccountingSupplierParty", ((151, "cac:Party"),)),
    (
        "cac:AccountingSupplierParty/cac:Party",
        ((152, "cac:PartyLegalEntity"), (156, "cac:PostalAddress"), (160, "cbc:EndpointID")),
    ),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity", ((153, "cbc:RegistrationName"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", ((155, "cbc:CompanyID"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme", ((154, "cbc:ID"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress", ((158, "cac:Country"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:AddressLine", ((157, "cbc:Line"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country", ((159, "cbc:IdentificationCode"),)),
    ("cac:AdditionalDocumentReference/cac:Attachment/cac:ExternalReference", ((161, "cbc:URI"),)),
    ("cac:AllowanceCharge", ((162, "cac:TaxCategory"),)),
    ("cac:AllowanceCharge/cac:TaxCategory", ((163, "cac:TaxScheme"), (165, "cbc:ID"))),
    ("cac:AllowanceCharge/cac:TaxCategory/cac:TaxScheme", ((164, "cbc:ID"),)),
    ("cac:BillingReference", ((166, "cac:InvoiceDocumentReference"),)),
    (
        "cac:CreditNoteLine",
        (
            (168, "cac:Item"),
            (177, "cac:Price"),
            (178, "cbc:CreditedQuantity"),
            (179, "cbc:LineExtensionAmount"),
        ),
    ),
    ("cac:CreditNoteLine/cac:DocumentReference", ((167, "cbc:DocumentTypeCode"),)),
    ("cac:CreditNoteLine/cac:Item", ((170, "cac:ClassifiedTaxCategory"), (176, "cbc:Name"))),
    ("cac:CreditNoteLine/cac:Item/cac:AdditionalItemProperty", ((169, "cbc:Value"),)),
    ("cac:CreditNoteLine/cac:Item/cac:ClassifiedTaxCategory", ((171, "cac:TaxScheme"), (173, "cbc:ID"))),
    ("cac:CreditNoteLine/cac:Item/cac:ClassifiedTaxCategory/cac:TaxScheme", ((172, "cbc:ID"),)),
    ("cac:CreditNoteLine/cac:Item/cac:CommodityClassification", ((174, "cbc:ItemClassificationCode"),)),
    ("cac:CreditNoteLine/cac:Item/cac:OriginCountry", ((175, "cbc:IdentificationCode"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address", ((181, "cac:Country"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:AddressLine", ((180, "cbc:Line"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country", ((182, "cbc:IdentificationCode"),)),
    ("cac:Delivery/cac:DeliveryParty", ((183, "cac:PartyName"),)),
    (
        "cac:LegalMonetaryTotal",
        ((184, "cbc:LineExtensionAmount"), (185, "cbc:TaxExclusiveAmount"), (186, "cbc:TaxInclusiveAmount")),
    ),
    ("cac:PayeeParty", ((188, "cac:PartyName"),)),
    ("cac:PayeeParty/cac:PartyLegalEntity", ((187, "cbc:CompanyID"),)),
    ("cac:PaymentMeans/cac:PayeeFinancialAccount", ((190, "cbc:ID"),)),
    ("cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch", ((189, "cbc:ID"),)),
    ("cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount", ((191, "cbc:ID"),)),
    ("cac:PaymentTerms", ((192, "cbc:Note"),)),
    (
        "cac:TaxRepresentativeParty",
        ((193, "cac:PartyName"), (194, "cac:PartyTaxScheme"), (197, "cac:PostalAddress")),
    ),
    ("cac:TaxRepresentativeParty/cac:PartyTaxScheme", ((196, "cbc:CompanyID"),)),
    ("cac:TaxRepresentativeParty/cac:PartyTaxScheme/cac:TaxScheme", ((195, "cbc:ID"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress", ((199, "cac:Country"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress/cac:AddressLine", ((198, "cbc:Line"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress/cac:Country", ((200, "cbc:IdentificationCode"),)),
    ("cac:TaxTotal/cac:TaxSubtotal", ((204, "cbc:TaxableAmount"),)),
    ("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", ((201, "cac:TaxScheme"), (203, "cbc:ID"))),
    ("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme", ((202, "cbc:ID"),)),
)

_INVOICE_RULES: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = (
    (
        "",
        (
            (209, "cac:AccountingCustomerParty"),
            (273, "cbc:CustomizationID"),
            (274, "cbc:DocumentCurrencyCode"),
            (275, "cbc:InvoiceTypeCode"),
            (276, "cbc:ProfileID"),
        ),
    ),
    ("cac:AccountingCustomerParty", ((210, "cac:Party"),)),
    (
        "cac:AccountingCustomerParty/cac:Party",
        ((211, "cac:PartyLegalEntity"), (215, "cac:PostalAddress"), (219, "cbc:EndpointID")),
    ),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity", ((212, "cbc:RegistrationName"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme", ((214, "cbc:CompanyID"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme", ((213, "cbc:ID"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress", ((217, "cac:Country"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:AddressLine", ((216, "cbc:Line"),)),
    ("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country", ((218, "cbc:IdentificationCode"),)),
    ("cac:AccountingSupplierParty", ((220, "cac:Party"),)),
    (
        "cac:AccountingSupplierParty/cac:Party",
        ((221, "cac:PartyLegalEntity"), (225, "cac:PostalAddress"), (229, "cbc:EndpointID")),
    ),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity", ((222, "cbc:RegistrationName"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", ((224, "cbc:CompanyID"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme", ((223, "cbc:ID"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress", ((227, "cac:Country"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:AddressLine", ((226, "cbc:Line"),)),
    ("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country", ((228, "cbc:IdentificationCode"),)),
    ("cac:AdditionalDocumentReference/cac:Attachment/cac:ExternalReference", ((230, "cbc:URI"),)),
    ("cac:AllowanceCharge", ((231, "cac:TaxCategory"),)),
    ("cac:AllowanceCharge/cac:TaxCategory", ((232, "cac:TaxScheme"), (234, "cbc:ID"))),
    ("cac:AllowanceCharge/cac:TaxCategory/cac:TaxScheme", ((233, "cbc:ID"),)),
    ("cac:BillingReference", ((235, "cac:InvoiceDocumentReference"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address", ((237, "cac:Country"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:AddressLine", ((236, "cbc:Line"),)),
    ("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country", ((238, "cbc:IdentificationCode"),)),
    ("cac:Delivery/cac:DeliveryParty", ((239, "cac:PartyName"),)),
    # no "MUST contain exactly one cac:Item" here, unlike R168 for a credit note line: as in the source
    ("cac:InvoiceLine", ((249, "cac:Price"), (250, "cbc:InvoicedQuantity"), (251, "cbc:LineExtensionAmount"))),
    ("cac:InvoiceLine/cac:DocumentReference", ((240, "cbc:DocumentTypeCode"),)),
    ("cac:InvoiceLine/cac:Item", ((242, "cac:ClassifiedTaxCategory"), (248, "cbc:Name"))),
    ("cac:InvoiceLine/cac:Item/cac:AdditionalItemProperty", ((241, "cbc:Value"),)),
    ("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory", ((243, "cac:TaxScheme"), (245, "cbc:ID"))),
    ("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cac:TaxScheme", ((244, "cbc:ID"),)),
    ("cac:InvoiceLine/cac:Item/cac:CommodityClassification", ((246, "cbc:ItemClassificationCode"),)),
    ("cac:InvoiceLine/cac:Item/cac:OriginCountry", ((247, "cbc:IdentificationCode"),)),
    (
        "cac:LegalMonetaryTotal",
        ((252, "cbc:LineExtensionAmount"), (253, "cbc:TaxExclusiveAmount"), (254, "cbc:TaxInclusiveAmount")),
    ),
    ("cac:PayeeParty", ((256, "cac:PartyName"),)),
    ("cac:PayeeParty/cac:PartyLegalEntity", ((255, "cbc:CompanyID"),)),
    ("cac:PaymentMeans/cac:PayeeFinancialAccount", ((258, "cbc:ID"),)),
    ("cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch", ((257, "cbc:ID"),)),
    ("cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount", ((259, "cbc:ID"),)),
    ("cac:PaymentTerms", ((260, "cbc:Note"),)),
    (
        "cac:TaxRepresentativeParty",
        ((261, "cac:PartyName"), (262, "cac:PartyTaxScheme"), (265, "cac:PostalAddress")),
    ),
    ("cac:TaxRepresentativeParty/cac:PartyTaxScheme", ((264, "cbc:CompanyID"),)),
    ("cac:TaxRepresentativeParty/cac:PartyTaxScheme/cac:TaxScheme", ((263, "cbc:ID"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress", ((267, "cac:Country"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress/cac:AddressLine", ((266, "cbc:Line"),)),
    ("cac:TaxRepresentativeParty/cac:PostalAddress/cac:Country", ((268, "cbc:IdentificationCode"),)),
    ("cac:TaxTotal/cac:TaxSubtotal", ((272, "cbc:TaxableAmount"),)),
    ("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", ((269, "cac:TaxScheme"), (271, "cbc:ID"))),
    ("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme", ((270, "cbc:ID"),)),
)

_ROOTS = (
    (CREDITNOTE, "ubl-creditnote:CreditNote", _CREDITNOTE_RULES),
    (INVOICE, "ubl-invoice:Invoice", _INVOICE_RULES),
)


def _clark(name: str) -> str:
    """The Clark name of a ``cac:`` or ``cbc:`` name."""
    prefix, local = name.split(":")
    return (cac if prefix == "cac" else cbc)(local)


def rule_id(number: int) -> str:
    return f"PEPPOL-EN16931-R{number:03d}"


#: rule id -> (context, child, message), the context as the Schematron spells it; in rule number order
PATTERN: dict[str, tuple[str, str, str]] = {}
for _root, _name, _rules in _ROOTS:
    for _path, _asserts in _rules:
        _context = f"{_name}/{_path}" if _path else _name
        for _number, _child in _asserts:
            PATTERN[rule_id(_number)] = (_context, _child, f"{_context} MUST contain exactly one {_child}.")
PATTERN = dict(sorted(PATTERN.items()))


# --- the walk: a tree of the contexts, from the document element down ------------------------------------------------

# A node of the tree: the asserts on the elements it stands for (rule id, child tag) and the nodes below it (tag,
# node); the latter in no particular order (the violations are put into document order at the end).
_Node = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Any], ...]]


def _tree(rules: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]) -> _Node:
    asserts: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for path, rule_asserts in rules:
        steps = tuple(_clark(step) for step in path.split("/")) if path else ()
        for i in range(len(steps) + 1):
            asserts.setdefault(steps[:i], [])  # the steps on the way are nodes too, without asserts
        asserts[steps].extend((rule_id(number), _clark(name)) for number, name in rule_asserts)

    def node(steps: tuple[str, ...]) -> _Node:
        below = [s[-1] for s in asserts if len(s) == len(steps) + 1 and s[: len(steps)] == steps]
        return tuple(asserts[steps]), tuple((tag, node((*steps, tag))) for tag in below)

    return node(())


_TREES = {root: _tree(rules) for root, _name, rules in _ROOTS}


# --- the short cut: all contexts at once, from the tag index ---------------------------------------------------------
#
# Every context wants some children once each. For a child tag T: list the elements of T (all of them, or those of
# Doc.by_parent_tag(T) under one tag X) and, in document order, the elements that may be contexts wanting T (the X
# among the children of the document element: exactly the contexts; or every X of the document: a superset of the
# contexts ending in X, where those all want the same children). If the parents of those T, in document order, are
# exactly those elements, each once, then each has exactly one T child: each T has one parent, and every T child of
# theirs is listed. One comparison of two lists then settles every child tag of every context of the document.

_ID = cbc.ID
_NAME = cbc.Name
# Child tags that UBL also puts under elements that are no context of theirs (the root's cbc:Note, a party's
# cac:PartyName, ...): listed by their parent's tag (Doc.by_parent_tag; the VAT rules have grouped the cbc:ID and
# the party rules the cbc:CompanyID already), always or (a value) where a document has an element of that tag. The
# cbc:Name of the items, among the names of parties, contacts and accounts, are read from Doc.child_map(cbc:Name),
# which BR-25 has made.
_GROUPED: dict[str, str | None] = {
    _ID: None,
    cbc.CompanyID: None,
    cbc.Note: None,
    cac.PartyName: None,
    cac.PartyTaxScheme: None,
    cbc.DocumentTypeCode: None,
    cac.PartyLegalEntity: cac.PayeeParty,
}
_CHILD_MAPPED = frozenset({_NAME})
# Child tags of which UBL also puts one in each element of another tag: listed with those (a party's tax
# registration has its cac:TaxScheme as a tax category has; a VAT breakdown its cac:TaxCategory as a document level
# allowance has).
_ALSO = {cac.TaxScheme: (cac.PartyTaxScheme,), cac.TaxCategory: (cac.TaxSubtotal,)}
# Tags in the order of their elements in a UBL document, for the tags listed together for one child tag: the
# parties before the delivery, the allowances before the tax total and the legal total before the lines.
_ORDER = {
    tag: i
    for i, tag in enumerate(
        (
            cac.AccountingSupplierParty,
            cac.AccountingCustomerParty,
            cac.Party,
            cac.PartyTaxScheme,
            cac.PostalAddress,
            cac.TaxRepresentativeParty,
            cac.Address,
            cac.Country,
            cac.AllowanceCharge,
            cac.TaxCategory,
            cac.TaxSubtotal,
            cac.LegalMonetaryTotal,
            cac.InvoiceLine,
            cac.CreditNoteLine,
            cac.ClassifiedTaxCategory,
            cac.OriginCountry,
        )
    )
}


def _in_order(context: tuple[int, str]) -> int:
    return _ORDER.get(context[1], len(_ORDER))


_INDEX, _TOP = 0, 1  # where a list of contexts comes from: the tag index, the children of the document element
# Tags of contexts among the children of the document element that UBL also puts further down, without the children
# the rules want there (a line's allowances have no cac:TaxCategory): looked up there. The other contexts there are
# checked with every element of their tag (a superset).
_TOP_ONLY = frozenset({cac.AllowanceCharge})


class _Plan:
    """The lists ``_clean`` compares in a document of one kind with these tags present (worked out once).

    Per child tag (or child tag and X, for a tag of _GROUPED), in this order: its elements, the tag index's list
    (by position in _Kind.tags: ``t_pos``) or Doc.by_parent_tag(grouped[i]) under X (``t_group``, ``t_under``); and
    the lists of the contexts wanting it, from the children of the document element (``x_top``: these come first)
    or the tag index (``x_pos``). Last, where contexts of one tag X want different children by their parent Y and
    both kinds occur (a payee's cac:PartyLegalEntity wants a cbc:CompanyID, a party's a cbc:RegistrationName), the
    children and the X under a Y, from Doc.under (``t_path``, ``x_path``). ``ends``: the position of each child
    tag's last list of contexts. ``named``: the tags X whose elements want a cbc:Name (from Doc.child_map).
    ``fallback``: the contexts from the children of the document element would not all come first: not settled
    here.
    """

    def __init__(self, kind: _Kind, present: frozenset[str]) -> None:
        wants: dict[str, list[tuple[int, str]]] = {}  # child tag -> (where, X) of the contexts wanting it
        paths: list[tuple[str, str, str]] = []  # (child tag, X, Y) of the contexts X under a Y
        for x in kind.contexts:
            if x not in present:
                continue
            for tag in kind.top.get(x, ()):
                wants.setdefault(tag, []).append((_TOP if x in _TOP_ONLY else _INDEX, x))
            for tag in kind.anywhere.get(x, ()):
                wants.setdefault(tag, []).append((_INDEX, x))
            by_parent = {y: wanted for y, wanted in kind.by_parent.get(x, {}).items() if y in present}
            for y, wanted in by_parent.items():
                for tag in dict.fromkeys(wanted):
                    if len(by_parent) > 1:
                        paths.append((tag, x, y))
                    else:  # one kind of context here: every X wants it
                        wants.setdefault(tag, []).append((_INDEX, x))
        grouped: list[str] = []
        plain: list[tuple[str, list[tuple[int, str]]]] = []  # (child tag, its contexts)
        by_group: list[tuple[tuple[int, str], list[tuple[int, str]]]] = []
        self.named: tuple[str, ...] = ()
        for tag, contexts in sorted(wants.items()):
            if tag in _CHILD_MAPPED:
                self.named += tuple(x for _where, x in contexts)
            elif tag in _GROUPED and _GROUPED[tag] in (None, *present):  # a list per X: its elements under an X
                grouped.append(tag)
                by_group += [((len(grouped) - 1, x), [(where, x)]) for where, x in contexts]
            else:
                contexts += [(_INDEX, also) for also in _ALSO.get(tag, ()) if also in present]
                # each element once among a tag's contexts (twice, it would pass with two such children): a tag
                # once, from the tag index where it comes from there for one of its contexts (a superset)
                where_x = {x: where for where, x in sorted(contexts, reverse=True)}
                contexts = sorted(((where, x) for x, where in where_x.items()), key=_in_order)
                plain.append((tag, contexts))
        plain.sort(key=lambda entry: entry[1][0][0] != _TOP)  # the contexts of the document element first
        position = {tag: i for i, tag in enumerate(kind.tags)}
        self.grouped = tuple(grouped)
        self.t_pos = tuple(position[tag] for tag, _contexts in plain)
        self.t_group = tuple(i for (i, _x), _contexts in by_group)
        self.t_under = tuple(x for (_i, x), _contexts in by_group)
        self.t_path = tuple(paths)
        self.x_path = tuple((x, y) for _tag, x, y in paths)
        lists = [c for _tag, contexts in plain for c in contexts] + [c for _key, contexts in by_group for c in contexts]
        tops = sum(where == _TOP for where, _x in lists)
        self.fallback = any(where == _TOP for where, _x in lists[tops:])
        self.x_top = tuple(x for _where, x in lists[:tops])
        self.x_pos = tuple(position[x] for _where, x in lists[tops:])
        ends = [len(contexts) for _tag, contexts in plain] + [len(contexts) for _key, contexts in by_group]
        self.ends = tuple(n - 1 for n in accumulate(ends + [1] * len(paths)))


class _Kind:
    """The pattern's rules for one kind of document element, arranged for ``_clean``: ``own``, the children of the
    document element itself; and for the other contexts, by their last tag X, the children wanted of the X among
    the children of the document element (``top``), of every X of the document where all the contexts ending in X
    want the same (``anywhere``), else by the tag of the contexts' parent (``by_parent``). ``tags``: every tag of
    those (contexts, their children and parents), looked up in the tag index once a check."""

    def __init__(self, rules: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]) -> None:
        self.own: tuple[str, ...] = ()
        self.top: dict[str, list[str]] = {}
        deep: dict[str, dict[str, list[str]]] = {}  # X -> parent tag -> children
        for path, rule_asserts in rules:
            wanted = [_clark(name) for _number, name in rule_asserts]
            steps = [_clark(step) for step in path.split("/")] if path else []
            if not steps:
                self.own = tuple(wanted)
            elif len(steps) == 1:
                self.top.setdefault(steps[0], []).extend(wanted)
            else:
                deep.setdefault(steps[-1], {}).setdefault(steps[-2], []).extend(wanted)
        same = {x for x, by in deep.items() if len({frozenset(wanted) for wanted in by.values()}) == 1}
        self.anywhere = {x: sorted(set(next(iter(deep[x].values())))) for x in same}
        self.by_parent = {x: by for x, by in deep.items() if x not in same}
        self.contexts = tuple(sorted({*self.top, *deep}))
        children = {tag for wanted in self.top.values() for tag in wanted}
        children |= {tag for by in deep.values() for wanted in by.values() for tag in wanted}
        parents = {y for by in self.by_parent.values() for y in by}
        self.tags = tuple(sorted({*self.contexts, *children, *parents}))
        self.plans: dict[bytes, _Plan] = {}

    def plan(self, present: bytes) -> _Plan:
        """The plan for a document with these of ``tags`` (a byte each: 1 present, 0 not)."""
        found = self.plans.get(present)
        if found is None:
            if len(self.plans) >= 256:  # a bound; real documents come in a few shapes
                self.plans.clear()
            tags = frozenset(tag for tag, here in zip(self.tags, present, strict=True) if here)
            found = self.plans[present] = _Plan(self, tags)
        return found


_KINDS = {root: _Kind(rules) for root, _name, rules in _ROOTS}
_GETPARENT = etree._Element.getparent
_ONE = {1}


def _clean(doc: Doc) -> bool:
    """No context of any rule can fail (see above): every element that may be one has one of each child it wants.

    False where that is not so or is not shown this way (an element that may be a context has two children of a
    tag the rules count, or none; they are not in the order of _ORDER; a tag of _ALSO is missing from an element
    of the other tag; the document has more than one Invoice or CreditNote element, ...): ``violations`` then
    walks the contexts.
    """
    index = doc.index
    if len(index.get(INVOICE, _NONE)) + len(index.get(CREDITNOTE, _NONE)) != 1:
        return False
    if doc.is_invoice:
        kind = _KINDS[INVOICE]
    elif doc.is_creditnote:
        kind = _KINDS[CREDITNOTE]
    else:  # an Invoice or CreditNote element below another document element
        return False
    top = doc.root_kids
    if set(map(len, map(top.get, kind.own, repeat(_NONE)))) != _ONE:
        return False
    found = list(map(index.get, kind.tags, repeat(_NONE)))  # each tag looked up once
    plan = kind.plan(bytes(map(truth, found)))
    if plan.fallback:
        return False
    groups = tuple(map(doc.by_parent_tag, plan.grouped))
    children = [
        *map(found.__getitem__, plan.t_pos),
        *map(dict.get, map(groups.__getitem__, plan.t_group), plan.t_under, repeat(_NONE)),
        *starmap(doc.under, plan.t_path),
    ]
    contexts = [
        *map(top.get, plan.x_top, repeat(_NONE)),
        *map(found.__getitem__, plan.x_pos),
        *starmap(doc.under, plan.x_path),
    ]
    # as many children of each tag as contexts wanting it; then their parents are those contexts
    ends = list(accumulate(map(len, contexts)))
    if list(accumulate(map(len, children))) != list(map(ends.__getitem__, plan.ends)):
        return False
    if list(map(_GETPARENT, chain.from_iterable(children))) != list(chain.from_iterable(contexts)):
        return False
    if plan.named:
        names = doc.child_map(_NAME).get
        for x in plan.named:
            if set(map(len, map(names, index[x], repeat(_NONE)))) != _ONE:
                return False
    return True


Found = dict[str, list[Element]]


def violations(doc: Doc) -> Found:
    """Every violation of this module's rules: rule id -> the failing context elements, in document order (memoised
    per check)."""
    found: Found | None = doc.memo.get(_MEMO)
    if found is None:
        found = doc.memo[_MEMO] = {}
        if _clean(doc):
            return found
        index = doc.index
        for root_tag, tree in _TREES.items():
            for top in index.get(root_tag, _NONE):
                _walk(top, tree, found)
        if len(index.get(INVOICE, _NONE)) + len(index.get(CREDITNOTE, _NONE)) > 1:
            for rule_id_, elements in found.items():
                found[rule_id_] = doc.in_document_order(elements)
    return found


def _walk(el: Element, node: _Node, found: Found) -> None:
    asserts, below = node
    get = kids(el).get
    for rule_id_, tag in asserts:
        got = get(tag)
        if got is None or len(got) != 1:
            bucket = found.get(rule_id_)
            if bucket is None:
                found[rule_id_] = [el]
            else:
                bucket.append(el)
    for tag, sub in below:
        for c in get(tag, _NONE):
            _walk(c, sub, found)


def _some_violation(doc: Doc) -> bool:
    """The guard of the whole module: some rule of it fails (the rules then read their part of ``violations``)."""
    return bool(violations(doc))


# --- registration ---------------------------------------------------------------------------------------------------


def _reader(rule_id_: str) -> Check:
    def check(doc: Doc) -> list[Element] | tuple[Element, ...]:
        return violations(doc).get(rule_id_, _NONE)

    check.__name__ = check.__qualname__ = rule_id_.lower().replace("-", "_")
    return check


for _id, (_context, _child, _message) in PATTERN.items():
    rule(_id, "fatal", _message, FAMILY, when=_some_violation)(_reader(_id))
