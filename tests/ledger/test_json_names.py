"""Every command's JSON names the same things alike (README, Exit codes): `document` the label, `number`,
`document_id`, `status` a document's own, `decision` the plan's, `result` an export's, `state` a ledger row's,
`attempts` a count of tries."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ledger.conftest import SmtpServer, make_document, run_cli
from tests.ledger.test_review4_worker import office


def test_the_same_thing_has_the_same_name_in_every_command(tmp_path: Path, smtp_server: SmtpServer) -> None:
    env = office(tmp_path, extra=smtp_server.env())
    path = tmp_path / "S-1.json"
    path.write_text(json.dumps(make_document("invoice", "S-1", "sent").model_dump(mode="json")))

    [imported] = json.loads(run_cli(env, "documents", "import", str(path), "--json").stdout)
    assert (imported["document"], imported["status"]) == ("invoice S-1", "sent") and "label" not in imported
    run_cli(env, "worker", "--once")

    [entry] = json.loads(run_cli(env, "history", "--tries", "--json").stdout)
    assert (entry["document"], entry["number"], entry["document_id"]) == ("invoice S-1", "S-1",
                                                                          imported["document_id"])
    assert (entry["state"], entry["attempts"]) == ("sent", 1)
    # `in_doubt` is a yes or no in history as in export (it was a count here, a bool there); the count beside it
    assert (entry["in_doubt"], entry["in_doubt_tries"]) == (False, 0)
    assert [(t["result"], t["attempts"]) for t in entry["tries"]] == [("sent", 1)]

    exported = json.loads(run_cli(env, "export", str(path), "--to", "dossier@yukiworks.nl", "--json").stdout)
    [planned] = exported["plan"]["documents"]
    assert (planned["document"], planned["number"], planned["status"], planned["decision"]) == (
        "invoice S-1", "S-1", "sent", "go")
    [result] = exported["results"]
    assert (result["document"], result["result"], result["attempts"]) == ("invoice S-1", "already-exported", 0)
    assert "status" not in result and "state" not in planned
    assert result["in_doubt"] is False

    [listed] = json.loads(run_cli(env, "documents", "list", "--json").stdout)
    assert (listed["number"], listed["status"], listed["document_id"]) == ("S-1", "sent", imported["document_id"])
    assert listed["document"] == "invoice S-1"  # the label, as every other command's JSON names it
