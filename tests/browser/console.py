#!/usr/bin/env python3
"""Drives the regulator console (`/console/`) in a real Chromium with Playwright, as a regulator
would: the browser presents the regulator's client certificate, every page is read, proofs are
verified in the browser against the pinned key, and the answers are compared with what the
regulator API itself gives.

    console.py URL CERT KEY LOG_VKEY OUTDIR [--tenant CERT KEY] [--scoped CERT KEY]
               [--witness VKEY]...

URL is the API listener (https://127.0.0.1:PORT); CERT/KEY a listed regulator's certificate
that sees `all`; LOG_VKEY the log's verifier key (log.pub); OUTDIR where the screenshots go.
`--tenant` is a tenant's certificate (must see no data), `--scoped` a regulator that sees only
part of the log (must see only its scope); each `--witness` a witness's cosignature/v1 verifier
key, all of whose cosignatures the checkpoints must carry (the quorum). The log must hold allowed and denied transfers of
`sz-genomics` (at least three denials for one reason) and a shipment.

Prints `ok: <check>` per check passed; exits 1 at the first failure (`fail: <why>`), 2 on bad
usage, 3 when Playwright or Chromium is missing (`missing: <what>`). CHROMIUM overrides the
browser's path (default /usr/bin/chromium); CONSOLE_CHECKS=search,verify runs only those checks
(overview, search, verify, witnesses, shipment, overdue, reports, language, tenant, scoped).
"""

import hashlib
import base64
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    print("missing: the Python package playwright (python3 -m pip install playwright)")
    sys.exit(3)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000


def fail(why):
    print(f"fail: {why}", flush=True)
    sys.exit(1)


def ok(what):
    print(f"ok: {what}", flush=True)


def check(condition, why):
    if not condition:
        fail(why)


class Console:
    """One browser context with one certificate, and its pages."""

    def __init__(self, browser, url, cert, key, out):
        self.url = url
        self.out = out
        self.context = browser.new_context(
            ignore_https_errors=True,
            viewport={"width": 1280, "height": 900},
            client_certificates=[{"origin": url, "certPath": cert, "keyPath": key}],
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", self._console)

    def _console(self, message):
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused to" in text):
            self.problems.append(f"CSP: {text}")

    def open(self, path):
        """Loads `path` and waits until the app drew it."""
        response = self.page.goto(self.url + path)
        self.ready()
        return response

    def ready(self):
        self.page.wait_for_function(
            "() => document.body && document.body.dataset.ready === location.pathname + location.search",
            timeout=TIMEOUT_MS,
        )
        self.page.wait_for_function("() => document.getElementById('main').getAttribute('aria-busy') === 'false'")
        check(not self.problems, "; ".join(self.problems))

    def api(self, path):
        """What the regulator API answers this browser (status, JSON or None)."""
        return self.page.evaluate(
            """async (path) => {
                const r = await fetch(path);
                const text = await r.text();
                let body = null;
                try { body = JSON.parse(text); } catch (e) {}
                return [r.status, body];
            }""",
            path,
        )

    def shot(self, name):
        self.page.screenshot(path=os.path.join(self.out, name), full_page=True)

    def close(self):
        self.context.close()


def park_today():
    return (datetime.now(timezone.utc) + timedelta(hours=8)).date()


def stats_query(days=30):
    to = park_today()
    return f"from={(to - timedelta(days=days - 1)).isoformat()}&to={to.isoformat()}"


def all_records(c, query):
    status, body = c.api("/v1/audit/records?" + (query + "&" if query else "") + "limit=1000")
    check(status == 200, f"records?{query}: {status} {body}")
    return body["records"]


def overview(c):
    c.open("/console/")
    # From navigation start to the page drawn: shell, scripts, whoami, the stats, the charts.
    rendered_ms = c.page.evaluate("() => Math.round(performance.now())")
    status, stats = c.api("/v1/audit/stats?" + stats_query())
    check(status == 200, f"/v1/audit/stats: {status} {stats}")
    totals = stats["totals"]
    shown = {
        "total-transfers-allow": totals["transfers"]["allow"],
        "total-transfers-deny": totals["transfers"]["deny"],
        "total-shipments-allow": totals["shipments"]["allow"],
        "total-shipments-deny": totals["shipments"]["deny"],
    }
    for element, number in shown.items():
        expect(c.page.locator(f"#{element}")).to_have_text(f"{number:,}")
    check(totals["transfers"]["allow"] > 0 and totals["transfers"]["deny"] > 0,
          f"the log should hold allowed and denied transfers: {totals}")
    # Charts with their text alternative: every day of the range, in a table.
    chart = c.page.get_by_role("img", name="Transfers per day")
    expect(chart).to_be_visible()
    rows = c.page.locator("section:has(#chart-transfers) details table tbody tr")
    check(rows.count() == len(stats["days"]) == 30, f"{rows.count()} chart rows for {len(stats['days'])} days")
    for sender in stats["senders"]:
        expect(c.page.locator("#senders").get_by_role("link", name=sender["tenant"], exact=True)).to_be_visible()
    for denial in stats["denials"]:
        row = c.page.locator("#denials tbody tr", has=c.page.get_by_role("link", name=denial["reason"], exact=True))
        expect(row).to_contain_text(f"{denial['count']:,}")
        expect(row).to_contain_text(denial["meaning"])
    c.shot("overview.png")
    # 90 days: its own URL, 90 days drawn.
    c.page.get_by_label("Period", exact=True).select_option("90")
    c.page.get_by_role("button", name="Show").click()
    c.page.wait_for_url(re.compile(r".*/console/\?days=90$"))
    c.ready()
    rows = c.page.locator("section:has(#chart-transfers) details table tbody tr")
    check(rows.count() == 90, f"{rows.count()} chart rows for 90 days")
    _, stats90 = c.api("/v1/audit/stats?" + stats_query(90))
    expect(c.page.locator("#total-transfers-deny")).to_have_text(f"{stats90['totals']['transfers']['deny']:,}")
    ok(f"overview shows the API's numbers ({totals['transfers']['allow']} allowed, "
       f"{totals['transfers']['deny']} denied transfers; 30 and 90 days); drawn {rendered_ms} ms "
       f"after navigation")


def search(c):
    denials = all_records(c, "tenant=sz-genomics&decision=deny")
    reasons = {}
    for record in denials:
        reasons.setdefault(record["record"]["reason"], []).append(record["log_index"])
    reason, expected = max(reasons.items(), key=lambda kv: len(kv[1]))
    check(len(expected) >= 3, f"need 3 denials of one reason, have {reasons}")
    wanted = [r["log_index"] for r in all_records(c, f"tenant=sz-genomics&reason={reason}")]
    c.open("/console/records")
    form = c.page.get_by_role("search")
    form.get_by_label("Tenant (sender)").fill("sz-genomics")
    form.get_by_label("Reason").fill(reason)
    form.get_by_label("Records per page").fill("2")
    form.get_by_role("button", name="Search").click()
    c.page.wait_for_url(re.compile(r".*/console/records\?tenant=sz-genomics&reason=.*&limit=2$"))
    c.ready()
    c.shot("records.png")
    seen = []
    pages = 0
    while True:
        pages += 1
        check(pages <= len(wanted) + 2, "the pages do not end")
        cells = c.page.locator("#records-table tbody th[scope=row]")
        indexes = [int(x) for x in cells.all_inner_texts()]
        check(len(indexes) <= 2, f"a page of limit 2 shows {indexes}")
        for row in c.page.locator("#records-table tbody tr").all():
            expect(row).to_contain_text(reason)
            expect(row).to_contain_text("sz-genomics")
        seen.extend(indexes)
        following = c.page.get_by_role("link", name="Next page")
        if following.count() == 0:
            break
        following.click()
        c.page.wait_for_url(re.compile(r".*after=\d+.*"))
        c.ready()
    check(seen == wanted, f"the pages showed {seen}, the API has {wanted}")
    ok(f"a search by tenant and reason {reason} pages correctly ({len(seen)} records in {pages} pages of 2)")
    return reason


def verify(c, log_vkey):
    allowed = all_records(c, "tenant=sz-genomics&kind=decision&decision=allow")
    check(allowed, "no allowed transfer")
    transfer = allowed[0]["record"]["transfer_id"]
    c.open(f"/console/transfers/{transfer}")
    records = c.page.locator("article.record")
    check(records.count() >= 2, f"transfer {transfer} shows {records.count()} records (decision and outcome)")
    shown = [int(x.split()[-1]) for x in c.page.locator("article.record h3").all_inner_texts()]
    check(shown == sorted(shown), f"records not in log order: {shown}")
    buttons = c.page.get_by_role("button", name="Verify in this browser")
    verdict = c.page.locator("article.record .verdict").first
    # Nothing pinned yet: no verification against a key the page could fetch.
    c.page.evaluate("localStorage.clear()")
    c.open(f"/console/transfers/{transfer}")
    buttons.first.click()
    expect(verdict).to_have_text("Not verified: no key pinned")
    c.page.get_by_label("Log verifier key").fill(log_vkey)
    c.page.get_by_role("button", name="Save").click()
    expect(c.page.locator("#keys-status")).to_have_text("Saved in this browser.")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        expect(c.page.locator("article.record .verdict").nth(i)).to_have_text("Verified")
    c.shot("transfer.png")
    ok(f"verify says Verified for the {buttons.count()} records of transfer {transfer}")

    # The key survives a reload (localStorage), and the record page verifies too.
    index = shown[0]
    c.open(f"/console/records/{index}")
    expect(c.page.get_by_label("Log verifier key")).to_have_value(log_vkey)
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text("Verified")
    c.shot("record.png")

    # A leaf altered in transit: the gateway's answer rewritten on its way to the page (the
    # leaf alone; the leaf with a matching leaf hash; the checkpoint's signature).
    log_name = log_vkey.split("+")[0]

    def altered(route, how):
        response = route.fetch()
        body = response.json()
        if how in ("leaf", "leaf and hash"):
            body["leaf"] = body["leaf"].replace("sz-genomics", "sz-genomicz")
            body["record"] = json.loads(body["leaf"])
        if how == "leaf and hash":
            digest = hashlib.sha256(b"\x00" + body["leaf"].encode()).digest()
            body["leaf_hash"] = base64.b64encode(digest).decode()
        if how == "signature":
            # The log's own signature line (witnesses' cosignature lines follow it).
            lines = body["checkpoint"].split("\n")
            at = lines.index(next(l for l in lines if l.startswith(f"\u2014 {log_name} ")))
            sig = bytearray(base64.b64decode(lines[at].split(" ")[2]))
            sig[-1] ^= 1
            lines[at] = f"\u2014 {log_name} {base64.b64encode(bytes(sig)).decode()}"
            body["checkpoint"] = "\n".join(lines)
        route.fulfill(response=response, body=json.dumps(body))

    for how, reason in [("leaf", "leaf hash does not match the leaf"),
                        ("leaf and hash", "proof does not lead to the checkpoint's root"),
                        ("signature", "checkpoint signature does not verify with the pinned key")]:
        # (A one-parameter handler: Playwright passes the request as a second argument.)
        handler = (lambda h: lambda route: altered(route, h))(how)
        c.page.route(re.compile(r".*/v1/audit/records/\d+$"), handler)
        c.open(f"/console/records/{index}")
        if how != "signature":
            # The page shows what arrived; verification must catch it.
            expect(c.page.locator("article.record")).to_contain_text("sz-genomicz")
        c.page.get_by_role("button", name="Verify in this browser").click()
        expect(c.page.locator(".verdict")).to_have_text(f"Not verified: {reason}")
        c.page.unroute(re.compile(r".*/v1/audit/records/\d+$"), handler)
        if how == "leaf":
            c.shot("record-altered.png")
    ok("verify fails for a leaf altered in transit (leaf hash; with a rewritten hash: the proof; "
       "a flipped signature bit: the signature)")

    # A wrong pinned key: the same name, another Ed25519 key (RFC 8032's first test vector).
    name = log_vkey.split("+")[0]
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    encoded = base64.b64encode(b"\x01" + public).decode()
    wrong = f"{name}+{key_id.hex()}+{encoded}"
    c.page.get_by_label("Log verifier key").fill(wrong)
    c.page.get_by_role("button", name="Save").click()
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text(
        re.compile(r"^Not verified: checkpoint signature does not verify with the pinned key"))
    c.page.get_by_label("Log verifier key").fill("not a key")
    c.page.get_by_role("button", name="Save").click()
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text(re.compile(r"^Not verified: the pinned log key is not"))
    c.page.get_by_label("Log verifier key").fill(log_vkey)
    c.page.get_by_role("button", name="Save").click()
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text("Verified")
    ok("verify fails with a wrong pinned key, and a malformed one")


def cosigned(c, log_vkey, witnesses):
    """The pinned witnesses' cosignatures: all of them verify (quorum = their number); one wrong
    key (the name of a real witness, another key) misses the quorum."""
    if not witnesses:
        return
    allowed = all_records(c, "tenant=sz-genomics&kind=decision&decision=allow")
    index = allowed[0]["log_index"]
    c.open(f"/console/records/{index}")
    # The gateway's own word on its witnesses is shown for comparison, never used.
    for key in witnesses:
        expect(c.page.locator("#gateway-says")).to_contain_text(key)
    c.page.get_by_label("Log verifier key").fill(log_vkey)
    c.page.get_by_label("Witness keys").fill("\n".join(witnesses))
    c.page.get_by_label("Witness quorum").fill(str(len(witnesses)))
    c.page.get_by_role("button", name="Save").click()
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text("Verified")
    detail = c.page.locator(".verdict").get_attribute("title")
    for key in witnesses:
        check(key.split("+")[0] in detail, f"{key} not named in {detail!r}")
    name = witnesses[0].split("+")[0]
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    encoded = base64.b64encode(b"\x04" + public).decode()
    wrong = [f"{name}+{key_id.hex()}+{encoded}"] + witnesses[1:]
    c.page.get_by_label("Witness keys").fill("\n".join(wrong))
    c.page.get_by_role("button", name="Save").click()
    c.page.get_by_role("button", name="Verify in this browser").click()
    expect(c.page.locator(".verdict")).to_have_text(
        f"Not verified: only {len(witnesses) - 1} of the pinned witnesses cosigned the checkpoint; "
        f"the quorum is {len(witnesses)}")
    c.page.get_by_label("Witness keys").fill("")
    c.page.get_by_label("Witness quorum").fill("")
    c.page.get_by_role("button", name="Save").click()
    ok(f"verify checks the pinned witnesses' cosignatures ({len(witnesses)} of {len(witnesses)}; "
       "a wrong witness key misses the quorum)")


def shipment(c):
    declared = all_records(c, "kind=shipment")
    check(declared, "no shipment in the log")
    shipment_id = declared[0]["record"]["shipment_id"]
    c.open(f"/console/shipments/{shipment_id}")
    expect(c.page.get_by_role("heading", name="Custody")).to_be_visible()
    status, listed = c.api("/v1/audit/shipments")
    check(status == 200, f"shipments: {status}")
    state = next(s for s in listed["shipments"] if s["shipment_id"] == shipment_id)
    expect(c.page.locator("#custody")).to_contain_text(state["status"])
    last = [r["record"] for r in all_records(c, f"shipment={shipment_id}&kind=custody")][-1]
    expect(c.page.locator("#custody")).to_contain_text(last["event"])
    records = c.page.locator("article.record")
    check(records.count() >= 1, "the shipment shows no record")
    for i in range(records.count()):
        c.page.get_by_role("button", name="Verify in this browser").nth(i).click()
        expect(c.page.locator("article.record .verdict").nth(i)).to_have_text("Verified")
    c.shot("shipment.png")
    ok(f"shipment {shipment_id}: {records.count()} records with its custody state, each Verified")


def overdue(c):
    c.open("/console/overdue")
    for heading in ["Retention overdue (rule 21)", "Shipments overdue (rule S12)", "Shipments under way",
                    "Shipments with discrepancies", "Year-to-date volume against the thresholds (rule 19)"]:
        expect(c.page.get_by_role("heading", name=heading)).to_be_visible()
    status, counters = c.api("/v1/audit/counters")
    check(status == 200, f"counters: {status}")
    rows = c.page.locator("#counters tbody tr:not(:has(td.empty))")
    check(rows.count() == len(counters["counters"]), f"{rows.count()} counter rows, the API has {len(counters['counters'])}")
    for name, value in (counters.get("thresholds") or {}).items():
        if isinstance(value, (int, float)):
            expect(c.page.locator("#thresholds")).to_contain_text(name)
    c.shot("overdue.png")
    ok(f"overdue page: retention, shipments and {len(counters['counters'])} counters against "
       f"{len(counters.get('thresholds') or {})} thresholds")


def reports(c):
    month = park_today().strftime("%Y-%m")
    c.open("/console/reports")
    c.page.get_by_label("Month", exact=True).fill(month)
    c.page.get_by_role("button", name="Make the report").click()
    c.page.wait_for_url(re.compile(rf".*/console/reports\?month={month}$"))
    c.ready()
    status, report = c.api(f"/v1/audit/report?month={month}")
    check(status == 200, f"report: {status} {report}")
    size, root = report["checkpoint"]["tree_size"], report["checkpoint"]["root_hash"]
    expect(c.page.locator("#report-checkpoint")).to_contain_text(f"tree size {size}, root {root}")
    for enterprise in report["enterprises"]:
        expect(c.page.locator("#report tbody")).to_contain_text(enterprise["tenant"])
    csv = c.page.get_by_role("link", name="Download CSV")
    check(f"tree_size={size}" in csv.get_attribute("href") and "format=csv" in csv.get_attribute("href"),
          f"the CSV link {csv.get_attribute('href')} does not name the checkpoint")
    c.shot("reports.png")
    ok(f"report for {month} names its checkpoint ({size}) and links CSV and JSON at that size")


def language(c):
    c.open("/console/")
    c.page.get_by_label("Language").select_option("zh-Hant")
    expect(c.page.get_by_role("navigation").get_by_role("link", name="概覽")).to_be_visible()
    expect(c.page.locator("html")).to_have_attribute("lang", "zh-Hant")
    c.page.get_by_label("語言").select_option("zh-Hans")
    expect(c.page.get_by_role("navigation").get_by_role("link", name="概览")).to_be_visible()
    c.ready()
    c.shot("overview-zh-Hans.png")
    c.page.get_by_label("语言").select_option("en")
    expect(c.page.get_by_role("navigation").get_by_role("link", name="Overview")).to_be_visible()
    # Keyboard: the skip link comes first and moves to the content.
    c.page.keyboard.press("Tab")
    expect(c.page.get_by_role("link", name="Skip to content")).to_be_focused()
    ok("the language switch relabels the page (zh-Hant, zh-Hans, en); the skip link leads")


def tenant_sees_nothing(browser, url, cert, key, out):
    c = Console(browser, url, cert, key, out)
    response = c.page.goto(url + "/console/")
    check(response.status == 403, f"a tenant got {response.status}")
    expect(c.page.get_by_role("heading", name="This console is for regulators")).to_be_visible()
    expect(c.page.locator("main")).to_contain_text("is for the regulator role")
    check(c.page.locator("script").count() == 0, "the refusal page loads a script")
    status, _ = c.api("/v1/audit/records")
    check(status == 403, f"a tenant's browser read /v1/audit/records: {status}")
    response = c.page.goto(url + "/console/records?tenant=sz-genomics")
    check(response.status == 403 and "log_index" not in c.page.content(), "a tenant saw records")
    c.page.goto(url + "/console/")
    c.shot("forbidden.png")
    c.close()
    ok("a tenant certificate gets the 403 page 'This console is for regulators' and no data")


def scoped_sees_its_scope(browser, url, cert, key, out, everything):
    c = Console(browser, url, cert, key, out)
    c.open("/console/records?limit=1000")
    status, mine = c.api("/v1/audit/records?limit=1000")
    check(status == 200, f"scoped records: {status}")
    wanted = [r["log_index"] for r in mine["records"]]
    shown = [int(x) for x in c.page.locator("#records-table tbody th[scope=row]").all_inner_texts()]
    check(shown == wanted, f"the scoped regulator's page shows {shown}, its API {wanted}")
    check(set(shown) < set(everything), f"scoped {shown} should be a strict part of {everything}")
    hidden = next(i for i in everything if i not in shown)
    c.open(f"/console/records/{hidden}")
    expect(c.page.get_by_role("alert")).to_contain_text("auth.forbidden")
    check(c.page.locator("article.record").count() == 0, "a record outside the scope is shown")
    c.open("/console/")
    _, stats = c.api("/v1/audit/stats?" + stats_query())
    expect(c.page.locator("#total-transfers-allow")).to_have_text(f"{stats['totals']['transfers']['allow']:,}")
    expect(c.page.locator("#total-transfers-deny")).to_have_text(f"{stats['totals']['transfers']['deny']:,}")
    c.shot("scoped-overview.png")
    c.close()
    ok(f"a scoped regulator sees only its scope ({len(shown)} of {len(everything)} records)")


def main():
    argv = sys.argv[1:]
    options = {}
    witnesses = []
    while "--witness" in argv:
        at = argv.index("--witness")
        witnesses.append(argv[at + 1])
        del argv[at:at + 2]
    for flag in ("--tenant", "--scoped"):
        if flag in argv:
            at = argv.index(flag)
            options[flag] = argv[at + 1:at + 3]
            del argv[at:at + 3]
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, cert, key, log_vkey_path, out = argv
    log_vkey = open(log_vkey_path).read().strip() if os.path.exists(log_vkey_path) else log_vkey_path
    os.makedirs(out, exist_ok=True)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        print(f"missing: chromium at {chromium} (apt-get install chromium)")
        sys.exit(3)
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        c = Console(browser, url, cert, key, out)
        checks = {
            "overview": lambda: overview(c),
            "search": lambda: search(c),
            "verify": lambda: verify(c, log_vkey),
            "witnesses": lambda: cosigned(c, log_vkey, witnesses),
            "shipment": lambda: shipment(c),
            "overdue": lambda: overdue(c),
            "reports": lambda: reports(c),
            "language": lambda: language(c),
        }
        c.open("/console/records")
        only = [x for x in os.environ.get("CONSOLE_CHECKS", "").split(",") if x]
        for name, run in checks.items():
            if not only or name in only:
                run()
        c.open("/console/records")
        everything = [r["log_index"] for r in all_records(c, "")]
        c.close()
        if "--tenant" in options and (not only or "tenant" in only):
            tenant_sees_nothing(browser, url, *options["--tenant"], out)
        if "--scoped" in options and (not only or "scoped" in only):
            scoped_sees_its_scope(browser, url, *options["--scoped"], out, everything)
        browser.close()
    print(f"done: every check passed in {time.monotonic() - started:.1f} s; screenshots in {out}")


if __name__ == "__main__":
    main()
