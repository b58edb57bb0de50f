// The regulator console: routes by location.pathname (History API, so every page has its own
// URL), reads the regulator API only (same origin: the browser presents the regulator's client
// certificate), and builds every page with DOM calls (no innerHTML of data).
"use strict";

(function () {
  const t = (key, vars) => window.LoopgateI18n.t(key, vars);
  const main = () => document.getElementById("main");
  const KEYS = { log: "loopgate.logKey", witnesses: "loopgate.witnessKeys", quorum: "loopgate.quorum" };
  const PARK_OFFSET_MS = 8 * 3600 * 1000;
  const RECORD_FILTERS = ["tenant", "recipient", "inventory_item", "sample_item", "shipment", "transfer_id",
    "decision", "reason", "kind", "from", "to", "limit"];
  const KINDS = ["decision", "outcome", "lifecycle", "shipment", "custody", "policy_change", "system"];

  // ---- DOM helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) if (c) node.append(c);
    return node;
  }

  function link(href, text, attrs) {
    return el("a", Object.assign({ href }, attrs || {}), text);
  }

  // A time in park time (UTC+8), with UTC in its title.
  function parkTime(rfc3339) {
    if (!rfc3339) return el("span", {}, "—");
    const ms = Date.parse(rfc3339);
    if (Number.isNaN(ms)) return el("span", {}, rfc3339);
    const park = new Date(ms + PARK_OFFSET_MS).toISOString().replace("T", " ").slice(0, 19);
    const utc = new Date(ms).toISOString().replace(".000Z", "Z");
    return el("time", { datetime: utc, title: "UTC " + utc }, park + " +08:00");
  }

  function parkToday() {
    return new Date(Date.now() + PARK_OFFSET_MS).toISOString().slice(0, 10);
  }

  function addDays(date, days) {
    const d = new Date(date + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  function num(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "—");
  }

  function bytes(n) {
    if (typeof n !== "number") return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return (u === 0 ? v : v.toFixed(1)) + " " + units[u];
  }

  function status(text, kind) {
    return el("p", { class: "status " + (kind || ""), role: kind === "error" ? "alert" : "status" }, text);
  }

  function table(caption, headers, rows, attrs) {
    return el("table", attrs || {},
      el("caption", { class: "visually-hidden" }, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.length ? rows.map((r) => el("tr", {}, r.map((c, i) => i === 0 && c instanceof Node && c.tagName === "TH" ? c : el("td", {}, c))))
        : el("tr", {}, el("td", { colspan: headers.length, class: "empty" }, t("none")))));
  }

  // ---- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    let response;
    try {
      response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new ApiError(0, "network", t("err.network"));
    }
    const text = await response.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, body && body.error, (body && body.message) || text || response.statusText);
    }
    return body;
  }

  function errorBox(error) {
    const code = error.code ? " (" + error.code + ", HTTP " + error.status + ")" : "";
    return status(t("err.api") + ": " + error.message + code, "error");
  }

  // ---- keys pinned in this browser -----------------------------------------------------------

  function pinned() {
    return {
      log: localStorage.getItem(KEYS.log) || "",
      witnesses: localStorage.getItem(KEYS.witnesses) || "",
      quorum: localStorage.getItem(KEYS.quorum) || "",
    };
  }

  function keysForm() {
    const keys = pinned();
    const said = el("p", { class: "status", role: "status", "aria-live": "polite", id: "keys-status" },
      keys.log ? t("keys.pinned") : t("keys.none"));
    const log = el("input", { id: "log-key", name: "log-key", type: "text", value: keys.log, spellcheck: "false",
      autocomplete: "off", placeholder: "loopgate.dev/log+1a2b3c4d+AQ…", "aria-describedby": "log-key-help" });
    const witnesses = el("textarea", { id: "witness-keys", name: "witness-keys", rows: "2", spellcheck: "false",
      placeholder: "witness.example+5e6f7a8b+BA…", "aria-describedby": "witness-keys-help" }, keys.witnesses);
    const quorum = el("input", { id: "quorum", name: "quorum", type: "number", min: "1", value: keys.quorum, inputmode: "numeric" });
    const form = el("form", { class: "keys", "aria-labelledby": "keys-h", onsubmit: (ev) => {
      ev.preventDefault();
      localStorage.setItem(KEYS.log, log.value.trim());
      localStorage.setItem(KEYS.witnesses, witnesses.value.trim());
      localStorage.setItem(KEYS.quorum, quorum.value.trim());
      said.textContent = log.value.trim() ? t("keys.saved") : t("keys.none");
    } },
    el("h2", { id: "keys-h" }, t("keys.title")),
    el("div", { class: "field wide" }, el("label", { for: "log-key" }, t("keys.log")), log,
      el("small", { id: "log-key-help" }, t("keys.log.help"))),
    el("div", { class: "field wide" }, el("label", { for: "witness-keys" }, t("keys.witnesses")), witnesses,
      el("small", { id: "witness-keys-help" }, t("keys.witnesses.help"))),
    el("div", { class: "field" }, el("label", { for: "quorum" }, t("keys.quorum")), quorum),
    el("div", { class: "actions" }, el("button", { type: "submit" }, t("keys.save"))),
    said);
    // What the gateway says of itself (/v1/audit/whoami), to compare with the keys obtained out
    // of band; never used to verify.
    if (me) {
      form.append(el("details", { class: "field wide", id: "gateway-says" },
        el("summary", {}, t("keys.gateway")),
        el("p", {}, t("keys.gateway.help")),
        el("dl", {}, el("dt", {}, t("keys.origin")), el("dd", {}, el("code", {}, me.log_origin || "—")),
          el("dt", {}, t("keys.quorum")), el("dd", {}, String(me.witness_quorum ?? "—")),
          (me.witnesses || []).map((w) => [el("dt", {}, w.name), el("dd", {}, el("code", {}, w.key))]))));
    }
    return form;
  }

  // A record's card: its fields, its leaf, and the button that verifies it in this browser.
  function recordCard(entry) {
    const r = entry.record || {};
    const result = el("p", { class: "verdict", role: "status", "aria-live": "polite", id: "verdict-" + entry.log_index });
    const button = el("button", { type: "button", "aria-describedby": "verdict-" + entry.log_index, onclick: async () => {
      button.disabled = true;
      result.className = "verdict";
      result.textContent = t("verify.running");
      let answer;
      try {
        answer = await api("/v1/audit/records/" + encodeURIComponent(entry.log_index));
      } catch (e) {
        answer = null;
        result.className = "verdict bad";
        result.textContent = t("verify.no") + ": " + t("verify.unreadable") + " (" + e.message + ")";
      }
      if (answer) {
        const outcome = await window.LoopgateVerify.verifyEntry(answer, pinned());
        result.className = "verdict " + (outcome.ok ? "good" : "bad");
        result.textContent = outcome.ok ? t("verify.ok") : t("verify.no") + ": " + outcome.reason;
        result.title = outcome.ok ? outcome.detail : "";
      }
      button.disabled = false;
    } }, t("verify.button"));
    const fields = [];
    const add = (label, value) => {
      if (value === undefined || value === null || value === "") return;
      fields.push(el("dt", {}, label), el("dd", {}, value));
    };
    add(t("f.kind"), r.kind);
    add(t("f.time"), parkTime(r.time));
    add(t("f.decision"), r.decision);
    add(t("f.reason"), r.reason);
    add(t("f.sender"), r.sender);
    add(t("f.recipient"), r.recipient);
    add(t("f.item"), r.item || r.inventory_item || r.sample_item);
    add(t("f.event"), r.event || r.outcome);
    if (r.transfer_id) add(t("f.transfer"), link("/console/transfers/" + encodeURIComponent(r.transfer_id), r.transfer_id));
    if (r.shipment_id) add(t("f.shipment"), link("/console/shipments/" + encodeURIComponent(r.shipment_id), r.shipment_id));
    return el("article", { class: "record", "aria-labelledby": "rec-h-" + entry.log_index },
      el("h3", { id: "rec-h-" + entry.log_index }, link("/console/records/" + entry.log_index, t("record") + " " + entry.log_index)),
      el("dl", {}, fields),
      el("details", {}, el("summary", {}, t("leaf")), el("pre", {}, entry.leaf)),
      el("div", { class: "actions" }, button),
      result);
  }

  // ---- pages -------------------------------------------------------------------------------

  async function overview(params) {
    const days = params.get("days") === "90" ? 90 : 30;
    const to = parkToday();
    const from = addDays(to, -(days - 1));
    const tenant = params.get("tenant") || "";
    const root = [el("h1", {}, t("overview.title"))];
    const pick = el("form", { class: "filters", "aria-label": t("overview.form"), onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (rangeSel.value === "90") q.set("days", "90");
      if (tenantIn.value.trim()) q.set("tenant", tenantIn.value.trim());
      go("/console/" + (q.toString() ? "?" + q : ""));
    } });
    const rangeSel = el("select", { id: "range", name: "days" },
      el("option", { value: "30", selected: days === 30 }, t("overview.30")),
      el("option", { value: "90", selected: days === 90 }, t("overview.90")));
    const tenantIn = el("input", { id: "ov-tenant", name: "tenant", value: tenant, type: "text" });
    pick.append(el("div", { class: "field" }, el("label", { for: "range" }, t("overview.range")), rangeSel),
      el("div", { class: "field" }, el("label", { for: "ov-tenant" }, t("f.tenant")), tenantIn),
      el("div", { class: "actions" }, el("button", { type: "submit" }, t("show"))));
    root.push(pick);
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    const q = new URLSearchParams({ from, to });
    if (tenant) q.set("tenant", tenant);
    let stats;
    try {
      stats = await api("/v1/audit/stats?" + q);
    } catch (e) {
      live.append(errorBox(e));
      return;
    }
    const totals = stats.totals || {};
    const tr = totals.transfers || {};
    const sh = totals.shipments || {};
    live.append(
      el("p", { class: "asof" }, t("overview.asof", { from: stats.from, to: stats.to, covered: num(stats.covered) }), " ", parkTime(stats.as_of)),
      el("section", { "aria-labelledby": "totals-h" },
        el("h2", { id: "totals-h" }, t("overview.totals")),
        el("dl", { class: "tiles" },
          tile("total-transfers-allow", t("overview.transfers.allow"), num(tr.allow)),
          tile("total-transfers-deny", t("overview.transfers.deny"), num(tr.deny)),
          tile("total-shipments-allow", t("overview.shipments.allow"), num(sh.allow)),
          tile("total-shipments-deny", t("overview.shipments.deny"), num(sh.deny)),
          tile("total-bytes", t("overview.bytes"), bytes(totals.bytes)))),
      chart("chart-transfers", t("overview.chart.transfers"), stats.days || [], "transfers"),
      chart("chart-shipments", t("overview.chart.shipments"), stats.days || [], "shipments"),
      el("section", { "aria-labelledby": "senders-h" },
        el("h2", { id: "senders-h" }, t("overview.senders")),
        table(t("overview.senders"), [t("f.tenant"), t("overview.transfers.allow"), t("overview.transfers.deny"),
          t("overview.shipments.allow"), t("overview.shipments.deny"), t("overview.bytes")],
        (stats.senders || []).map((s) => [
          link("/console/records?" + new URLSearchParams({ tenant: s.tenant }), s.tenant),
          num((s.transfers || {}).allow), num((s.transfers || {}).deny),
          num((s.shipments || {}).allow), num((s.shipments || {}).deny), bytes(s.bytes)]), { id: "senders" })),
      el("section", { "aria-labelledby": "denials-h" },
        el("h2", { id: "denials-h" }, t("overview.denials")),
        table(t("overview.denials"), [t("f.reason"), t("overview.rule"), t("overview.meaning"), t("overview.count")],
          (stats.denials || []).map((d) => [
            link("/console/records?" + new URLSearchParams({ decision: "deny", reason: d.reason, from: stats.from + "T00:00:00+08:00" }), d.reason),
            d.rule != null ? t("overview.rule.n", { n: d.rule }) : d.shipment_rule != null ? "S" + d.shipment_rule : "—",
            d.meaning || "", num(d.count)]), { id: "denials" })));
  }

  function tile(id, label, value) {
    return el("div", { class: "tile" }, el("dt", {}, label), el("dd", { id }, value));
  }

  // Allowed vs denied per day, as stacked SVG bars, with the same numbers as a table (the
  // text alternative).
  function chart(id, title, days, kind) {
    const width = 720;
    const height = 180;
    const pad = 28;
    const max = Math.max(1, ...days.map((d) => ((d[kind] || {}).allow || 0) + ((d[kind] || {}).deny || 0)));
    const bar = days.length ? (width - pad) / days.length : 1;
    const scale = (height - pad) / max;
    const total = days.reduce((s, d) => s + ((d[kind] || {}).allow || 0) + ((d[kind] || {}).deny || 0), 0);
    const descId = id + "-desc";
    const g = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-labelledby": id + "-title " + descId, class: "chart", id });
    g.append(svg("title", { id: id + "-title", text: title }),
      svg("desc", { id: descId, text: t("chart.desc", { days: days.length, total, max }) }),
      svg("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis" }),
      svg("text", { x: 2, y: 12, class: "tick", text: String(max) }),
      svg("text", { x: 2, y: height - pad, class: "tick", text: "0" }));
    days.forEach((d, i) => {
      const a = (d[kind] || {}).allow || 0;
      const n = (d[kind] || {}).deny || 0;
      const x = pad + i * bar + 1;
      const w = Math.max(1, bar - 2);
      const ha = a * scale;
      const hn = n * scale;
      const tip = d.date + ": " + a + " " + t("allowed") + ", " + n + " " + t("denied");
      g.append(svg("rect", { x, y: height - pad - ha, width: w, height: ha, class: "allow" }, svg("title", { text: tip })),
        svg("rect", { x, y: height - pad - ha - hn, width: w, height: hn, class: "deny" }, svg("title", { text: tip })));
      const every = days.length > 40 ? 15 : 7;
      const last = i === days.length - 1;
      if (i === 0 || last || (i % every === 0 && days.length - 1 - i >= every / 2)) {
        g.append(svg("text", { x: last ? x + w : x, y: height - 10, class: "tick", "text-anchor": last ? "end" : "start", text: d.date.slice(5) }));
      }
    });
    const rows = days.map((d) => [d.date, num((d[kind] || {}).allow || 0), num((d[kind] || {}).deny || 0)]);
    return el("section", { "aria-labelledby": id + "-h", class: "chart-box" },
      el("h2", { id: id + "-h" }, title),
      el("p", { class: "legend" }, el("span", { class: "key allow" }), t("allowed"), " ", el("span", { class: "key deny" }), t("denied")),
      g,
      el("details", {}, el("summary", {}, t("chart.table")),
        table(title, [t("f.date"), t("allowed"), t("denied")], rows)));
  }

  async function records(params) {
    const root = [el("h1", {}, t("records.title"))];
    const form = el("form", { class: "filters", role: "search", "aria-label": t("records.search"), id: "records-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        const q = new URLSearchParams();
        for (const name of RECORD_FILTERS) {
          const v = form.elements[name].value.trim();
          if (v) q.set(name, v);
        }
        go("/console/records" + (q.toString() ? "?" + q : ""));
      } });
    for (const name of RECORD_FILTERS) {
      const id = "q-" + name;
      let input;
      if (name === "decision") {
        input = el("select", { id, name }, el("option", { value: "" }, t("any")),
          ["allow", "deny"].map((v) => el("option", { value: v, selected: params.get(name) === v }, v)));
      } else if (name === "kind") {
        input = el("select", { id, name }, el("option", { value: "" }, t("any")),
          KINDS.map((v) => el("option", { value: v, selected: params.get(name) === v }, v)));
      } else {
        input = el("input", { id, name, type: name === "limit" ? "number" : "text", min: name === "limit" ? "1" : null,
          max: name === "limit" ? "1000" : null, value: params.get(name) || "",
          placeholder: name === "from" || name === "to" ? "2026-12-01T00:00:00+08:00" : name === "limit" ? "100" : null });
      }
      form.append(el("div", { class: "field" }, el("label", { for: id }, t("f." + name)), input));
    }
    form.append(el("div", { class: "actions" }, el("button", { type: "submit" }, t("search")),
      link("/console/records", t("records.clear"), { class: "button-link" })));
    root.push(form);
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    const q = new URLSearchParams();
    for (const name of RECORD_FILTERS.concat(["after"])) if (params.get(name)) q.set(name, params.get(name));
    let page;
    try {
      page = await api("/v1/audit/records" + (q.toString() ? "?" + q : ""));
    } catch (e) {
      live.append(errorBox(e));
      return;
    }
    const list = page.records || [];
    const first = list.length ? list[0].log_index : null;
    const last = list.length ? list[list.length - 1].log_index : null;
    live.append(status(list.length ? t("records.count", { n: list.length, first, last }) : t("records.empty")));
    live.append(table(t("records.title"), [t("f.log_index"), t("f.time"), t("f.kind"), t("f.sender"), t("f.recipient"),
      t("f.item"), t("f.decision"), t("f.reason"), t("f.subject")],
    list.map((e) => {
      const r = e.record || {};
      const subject = r.transfer_id ? link("/console/transfers/" + encodeURIComponent(r.transfer_id), r.transfer_id, { class: "id" })
        : r.shipment_id ? link("/console/shipments/" + encodeURIComponent(r.shipment_id), r.shipment_id, { class: "id" }) : "—";
      return [el("th", { scope: "row" }, link("/console/records/" + e.log_index, String(e.log_index))), parkTime(r.time), r.kind,
        r.sender || "—", r.recipient || "—", r.item || r.sample_item || "—", r.decision || r.outcome || r.event || "—", r.reason || "—", subject];
    }), { id: "records-table" }));
    const nav = el("nav", { "aria-label": t("records.pages"), class: "pager" });
    if (params.get("after")) {
      const firstQ = new URLSearchParams(q);
      firstQ.delete("after");
      nav.append(link("/console/records" + (firstQ.toString() ? "?" + firstQ : ""), t("records.first")));
    }
    if (page.next !== null && page.next !== undefined) {
      const nextQ = new URLSearchParams(q);
      nextQ.set("after", String(page.next));
      nav.append(link("/console/records?" + nextQ, t("records.next"), { rel: "next" }));
    }
    live.append(nav);
  }

  async function recordPage(index) {
    const root = [el("h1", {}, t("record") + " " + index), keysForm()];
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    try {
      const entry = await api("/v1/audit/records/" + encodeURIComponent(index));
      live.append(recordCard(entry));
    } catch (e) {
      live.append(errorBox(e));
    }
  }

  // Every record matching `filter`, in log order (a few pages at most).
  async function allRecords(filter) {
    const out = [];
    let after = null;
    for (let i = 0; i < 20; i++) {
      const q = new URLSearchParams(filter);
      q.set("limit", "1000");
      if (after !== null) q.set("after", String(after));
      const page = await api("/v1/audit/records?" + q);
      out.push(...(page.records || []));
      if (page.next === null || page.next === undefined) break;
      after = page.next;
    }
    return out;
  }

  async function transferPage(id) {
    const root = [el("h1", {}, t("transfer.title") + " ", el("code", {}, id)), keysForm()];
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    try {
      const list = await allRecords({ transfer_id: id });
      live.append(status(t("chain.count", { n: list.length })));
      live.append(el("ol", { class: "chain" }, list.map((e) => el("li", {}, recordCard(e)))));
    } catch (e) {
      live.append(errorBox(e));
    }
  }

  async function shipmentPage(id) {
    const root = [el("h1", {}, t("shipment.title") + " ", el("code", {}, id)), keysForm()];
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    let list;
    try {
      list = await allRecords({ shipment: id });
    } catch (e) {
      live.append(errorBox(e));
      return;
    }
    let state = null;
    try {
      const listed = await api("/v1/audit/shipments");
      state = (listed.shipments || []).find((s) => s.shipment_id === id) || null;
    } catch (e) {
      state = null;
    }
    const custody = list.filter((e) => (e.record || {}).kind === "custody");
    const lastStep = custody.length ? custody[custody.length - 1].record : null;
    const facts = [];
    const add = (k, v) => facts.push(el("dt", {}, k), el("dd", {}, v));
    if (state) {
      add(t("shipment.status"), state.status || "—");
      add(t("shipment.holder"), state.holder || "—");
      add(t("shipment.flags"), (state.flags || []).length ? (state.flags || []).join(", ") : t("none"));
    } else {
      add(t("shipment.status"), t("shipment.closed"));
    }
    add(t("shipment.last"), lastStep ? (lastStep.event || "—") + " " : t("none"));
    live.append(el("section", { "aria-labelledby": "custody-h" }, el("h2", { id: "custody-h" }, t("shipment.custody")), el("dl", { class: "facts", id: "custody" }, facts)));
    live.append(status(t("chain.count", { n: list.length })));
    live.append(el("ol", { class: "chain" }, list.map((e) => el("li", {}, recordCard(e)))));
  }

  async function overduePage() {
    const root = [el("h1", {}, t("overdue.title"))];
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    const [retention, late, open, flagged, counters] = await Promise.all([
      api("/v1/audit/retention/overdue").catch((e) => e),
      api("/v1/audit/shipments?status=overdue").catch((e) => e),
      api("/v1/audit/shipments?status=open").catch((e) => e),
      api("/v1/audit/shipments?status=discrepancy").catch((e) => e),
      api("/v1/audit/counters").catch((e) => e),
    ]);
    const section = (id, title, content) => el("section", { "aria-labelledby": id }, el("h2", { id }, title), content);
    live.append(section("retention-h", t("overdue.retention"), retention instanceof Error ? errorBox(retention)
      : table(t("overdue.retention"), [t("f.transfer"), t("f.sender"), t("f.recipient"), t("f.item"), t("overdue.received"), t("overdue.due")],
        (retention.transfers || []).map((r) => [link("/console/transfers/" + encodeURIComponent(r.transfer_id), r.transfer_id, { class: "id" }),
          r.sender, r.recipient, r.inventory_item, parkTime(r.received), parkTime(r.due)]), { id: "retention" })));
    const shipRows = (listed) => (listed.shipments || []).map((s) => [
      link("/console/shipments/" + encodeURIComponent(s.shipment_id), s.shipment_id, { class: "id" }),
      s.sender, s.recipient, s.sample_item, s.status || "—", (s.flags || []).join(", ") || "—"]);
    const shipHead = [t("f.shipment"), t("f.sender"), t("f.recipient"), t("f.item"), t("shipment.status"), t("shipment.flags")];
    live.append(section("late-h", t("overdue.late"), late instanceof Error ? errorBox(late)
      : table(t("overdue.late"), shipHead, shipRows(late), { id: "overdue-shipments" })));
    live.append(section("open-h", t("overdue.open"), open instanceof Error ? errorBox(open)
      : table(t("overdue.open"), shipHead, shipRows(open), { id: "open-shipments" })));
    live.append(section("flagged-h", t("overdue.flagged"), flagged instanceof Error ? errorBox(flagged)
      : table(t("overdue.flagged"), shipHead, shipRows(flagged), { id: "discrepancies" })));
    live.append(section("counters-h", t("overdue.counters"), counters instanceof Error ? errorBox(counters) : counterTable(counters)));
  }

  // Year-to-date subjects per legal entity and route against rule 19's thresholds: each count
  // is drawn against the next threshold it has not reached (the sensitive count against the
  // sensitive ones).
  function counterTable(answer) {
    const thresholds = answer.thresholds || {};
    const limits = Object.entries(thresholds).filter(([, v]) => typeof v === "number").sort((a, b) => a[1] - b[1]);
    const meter = (value, sensitive) => {
      const mine = limits.filter(([k]) => /sensitive/.test(k) === sensitive);
      if (!mine.length) return num(value);
      const [name, limit] = mine.find(([, v]) => value < v) || mine[mine.length - 1];
      return el("span", { class: "meter-cell" },
        el("meter", { min: "0", max: String(limit), value: String(Math.min(value, limit)), high: String(limit * 0.8),
          "aria-label": t("overdue.against", { value, limit, name }) }),
        " " + num(value) + " / " + num(limit) + " ", el("small", {}, name));
    };
    return el("div", {},
      limits.length ? el("dl", { class: "thresholds", id: "thresholds" }, limits.map(([k, v]) => [el("dt", {}, k), el("dd", {}, num(v))]))
        : status(t("overdue.nothresholds")),
      el("p", {}, t("overdue.year"), " ", answer.as_of ? parkTime(answer.as_of) : ""),
      table(t("overdue.counters"), [t("overdue.entity"), t("overdue.tenants"), t("overdue.route"), t("overdue.subjects"), t("overdue.sensitive")],
        (answer.counters || []).map((c) => [c.legal_entity, (c.tenants || []).join(", "), c.route,
          meter(c.subjects || 0, false), meter(c.sensitive_subjects || 0, true)]), { id: "counters" }));
  }

  async function reportsPage(params) {
    const month = params.get("month") || parkToday().slice(0, 7);
    const tenant = params.get("tenant") || "";
    const root = [el("h1", {}, t("reports.title"))];
    const monthIn = el("input", { id: "r-month", name: "month", type: "month", value: month, required: true });
    const tenantIn = el("input", { id: "r-tenant", name: "tenant", type: "text", value: tenant });
    root.push(el("form", { class: "filters no-print", "aria-label": t("reports.title"), onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams({ month: monthIn.value });
      if (tenantIn.value.trim()) q.set("tenant", tenantIn.value.trim());
      go("/console/reports?" + q);
    } },
    el("div", { class: "field" }, el("label", { for: "r-month" }, t("reports.month")), monthIn),
    el("div", { class: "field" }, el("label", { for: "r-tenant" }, t("reports.tenant")), tenantIn),
    el("div", { class: "actions" }, el("button", { type: "submit" }, t("reports.make")))));
    const live = el("div", { "aria-live": "polite", id: "results" });
    root.push(live);
    render(root);
    if (!params.get("month")) return;
    const q = new URLSearchParams({ month });
    if (tenant) q.set("tenant", tenant);
    let report;
    try {
      report = await api("/v1/audit/report?" + q);
    } catch (e) {
      live.append(errorBox(e));
      return;
    }
    const cp = report.checkpoint || {};
    const fixed = new URLSearchParams(q);
    fixed.set("tree_size", String(cp.tree_size));
    const csv = new URLSearchParams(fixed);
    csv.set("format", "csv");
    const json = new URLSearchParams(fixed);
    json.set("format", "json");
    live.append(
      el("p", { class: "checkpoint", id: "report-checkpoint" }, t("reports.at", { size: cp.tree_size, root: cp.root_hash })),
      el("p", {}, t("reports.scope") + ": " + (report.scope || []).join(", ") + ". " + t("reports.generated") + " ", parkTime(report.generated_at)),
      el("p", { class: "no-print downloads" },
        link("/v1/audit/report?" + csv, t("reports.csv"), { download: "", id: "report-csv" }), " ",
        link("/v1/audit/report?" + json, t("reports.json"), { download: "", id: "report-json" }), " ",
        el("button", { type: "button", onclick: () => window.print() }, t("reports.print"))),
      table(t("reports.caption", { month: report.month }), [t("f.tenant"), t("overview.transfers.allow"), t("overview.transfers.deny"),
        t("reports.completed"), t("reports.failed"), t("overview.bytes"), t("reports.subjects"), t("overview.shipments.allow"),
        t("overview.shipments.deny"), t("reports.custody"), t("overview.denials")],
      (report.enterprises || []).map((e) => [el("th", { scope: "row" }, e.tenant), num((e.transfers || {}).allow), num((e.transfers || {}).deny),
        num(e.completed), num(e.failed), bytes(e.bytes), num(e.data_subjects), num((e.shipments || {}).allow), num((e.shipments || {}).deny),
        num(e.custody_events), Object.entries(e.denials || {}).map(([k, v]) => k + "=" + v).join("; ") || "—"]), { id: "report" }));
  }

  function notFound() {
    render([el("h1", {}, t("notfound")), el("p", {}, link("/console/", t("nav.overview")))]);
  }

  // ---- routing -----------------------------------------------------------------------------

  function render(children) {
    const m = main();
    m.replaceChildren(...children);
  }

  function current() {
    const path = location.pathname.replace(/\/+$/, "") || "/console";
    const params = new URLSearchParams(location.search);
    let m;
    if (path === "/console") return ["overview", () => overview(params)];
    if (path === "/console/records") return ["records", () => records(params)];
    if ((m = path.match(/^\/console\/records\/([0-9]+)$/))) return ["records", () => recordPage(m[1])];
    if ((m = path.match(/^\/console\/transfers\/([^/]+)$/))) return ["records", () => transferPage(decodeURIComponent(m[1]))];
    if ((m = path.match(/^\/console\/shipments\/([^/]+)$/))) return ["records", () => shipmentPage(decodeURIComponent(m[1]))];
    if (path === "/console/overdue") return ["overdue", () => overduePage()];
    if (path === "/console/reports") return ["reports", () => reportsPage(params)];
    return ["", notFound];
  }

  let generation = 0;
  async function show(focus) {
    const [page, draw] = current();
    generation++;
    for (const a of document.querySelectorAll("nav a[data-page]")) {
      if (a.dataset.page === page) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const h = { overview: "overview.title", records: "records.title", overdue: "overdue.title", reports: "reports.title" }[page];
    document.title = (h ? t(h) + " - " : "") + t("title");
    const mine = generation;
    main().setAttribute("aria-busy", "true");
    try {
      await draw();
    } finally {
      if (mine === generation) {
        main().setAttribute("aria-busy", "false");
        document.body.dataset.ready = location.pathname + location.search;
      }
    }
    if (focus) main().focus();
  }

  function go(url) {
    history.pushState(null, "", url);
    show(true);
  }

  document.addEventListener("click", (ev) => {
    const a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    if (a.hasAttribute("download") || a.target) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith("/console")) return;
    ev.preventDefault();
    go(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => show(false));

  let me = null;
  async function whoami() {
    const box = document.getElementById("whoami");
    try {
      me = await api("/v1/audit/whoami");
      box.replaceChildren(el("span", {}, t("who", { id: me.regulator, sees: (me.sees || []).join(", ") })));
      box.title = me.log_origin ? t("who.log", { origin: me.log_origin }) : "";
    } catch (e) {
      box.replaceChildren();
    }
  }

  function start() {
    const select = document.getElementById("language");
    select.value = window.LoopgateI18n.language();
    select.addEventListener("change", () => {
      window.LoopgateI18n.use(select.value);
      whoami();
      show(false);
    });
    window.LoopgateI18n.apply();
    whoami().then(() => show(false));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
