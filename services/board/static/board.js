// Live pages: the server sends a "changed" event over SSE whenever the board changes (and
// a heartbeat with the broker's state); the page refetches its JSON and redraws. Text is
// set with textContent only, never parsed as HTML.
(function () {
  "use strict";
  const live = document.getElementById("live");
  let skew = 0; // server clock minus ours

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function rag(value) { return el("span", { class: "rag rag-" + value }, value); }
  function words(value) { return String(value || "").replaceAll("_", " ").toLowerCase(); }

  function timeLeft(iso) {
    const s = Math.round((Date.parse(iso) - (Date.now() + skew)) / 1000);
    const a = Math.abs(s), h = Math.floor(a / 3600), m = Math.floor((a % 3600) / 60), sec = a % 60;
    const text = h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m ${String(sec).padStart(2, "0")}s` : `${sec}s`;
    return s >= 0 ? text + " left" : "overdue by " + text;
  }
  function due(iso) {
    return el("span", { class: "left", "data-due": iso }, timeLeft(iso));
  }
  function tick() {
    for (const node of document.querySelectorAll("[data-due]")) {
      node.textContent = timeLeft(node.getAttribute("data-due"));
      node.classList.toggle("overdue", node.textContent.startsWith("overdue"));
    }
  }
  setInterval(tick, 1000);

  const STATE_TEXT = { ANSWERED: "✓ answered", LATE: "✓ answered late", OVERDUE: "✗ overdue",
                       CHASED: "… chased", WAITING: "… waiting" };
  function chip(a) {
    const extra = a.state === "CHASED" ? ` ×${a.chases}` : "";
    return el("span", { class: "chip " + a.state, "data-agency": a.agency, "data-state": a.state },
              `${a.agency} ${STATE_TEXT[a.state] || a.state}${extra}`);
  }
  function stage(c) {
    let text = words(c.stage);
    if (c.stage === "PARTIAL") text = "partial: decision pending";
    if (c.stage === "COMPLETE") text = "complete: decision pending";
    if (c.stage === "DECIDED") text = "decided: " + words(c.decision);
    if (c.amended) text += ` (amended, v${c.version})`;
    return el("span", { class: "stage", "data-stage": c.stage }, text);
  }

  const render = {
    board(data) {
      const staff = live.dataset.staff === "yes";
      const counts = document.getElementById("counts");
      counts.replaceChildren(...["RED", "AMBER", "GREEN"].map(r =>
        el("span", {}, rag(r), ` ${data.counts[r]} open`)),
        el("span", {}, `${data.decision_pending} awaiting decision`));
      const rows = data.open.map(c => el("tr", { "data-case": c.case_id, "data-rag": c.rag },
        el("td", {}, rag(c.rag)),
        el("td", {}, staff ? el("a", { href: "/cases/" + encodeURIComponent(c.case_id) }, c.case_id) : c.case_id),
        staff ? el("td", { class: "subject" }, c.subject || "") : null,
        el("td", {}, c.stage === "GATHERING" ? due(c.due_at) : "assembled"),
        el("td", {}, stage(c), c.missing.length ? el("div", {}, "missing: " + c.missing.join(", ")) : null),
        el("td", {}, ...c.agencies.map(chip))));
      document.getElementById("open").replaceChildren(...(rows.length ? rows :
        [el("tr", {}, el("td", { colspan: "6" }, "No open cases."))]));
      document.getElementById("decided").replaceChildren(...data.decided.map(c =>
        el("tr", { "data-case": c.case_id },
          el("td", {}, rag(c.rag)),
          el("td", {}, staff ? el("a", { href: "/cases/" + encodeURIComponent(c.case_id) }, c.case_id) : c.case_id),
          staff ? el("td", {}, c.subject || "") : null,
          el("td", {}, stage(c)),
          el("td", {}, c.missing.length ? "partial (missing " + c.missing.join(", ") + ")" : "complete"))));
    },
    case(c) {
      const head = document.getElementById("case-head");
      head.replaceChildren(...[rag(c.rag), el("strong", {}, c.case_id), stage(c),
        c.stage === "GATHERING" ? due(c.due_at) : null].filter(Boolean));
      const subject = document.getElementById("subject");
      subject.replaceChildren(...Object.entries(c.subject_detail).flatMap(([k, v]) =>
        [el("dt", {}, words(k)), el("dd", {}, v)]));
      document.getElementById("referrals").replaceChildren(...c.referral_detail.map(r =>
        el("article", { class: "referral" },
          el("p", {}, el("strong", {}, r.referral_id), ` from ${r.source_system}, ${r.referrer}`),
          el("p", {}, "Concerns: " + r.concerns.map(words).join(", ") +
            (r.indicators.length ? "; indicators: " + r.indicators.map(words).join(", ") : "")),
          el("p", {}, r.narrative))));
      // What the rating was, when it changed, why and by whom (from the assembled case).
      document.getElementById("rating-history").replaceChildren(...(c.rating_history.length ?
        c.rating_history.map(e => el("li", { "data-cause": e.cause },
          e.previous_rag ? rag(e.previous_rag) : null, e.previous_rag ? " → " : null, rag(e.rag),
          ` ${words(e.cause)}, ${new Date(e.at).toLocaleString()}, by ${e.by}: ${e.why}`)) :
        [el("li", {}, "Rated " + c.rag + "; the history comes with the assembled case.")]));
      document.getElementById("missing").textContent = c.missing.length
        ? "Missing at assembly: " + c.missing.join(", ") : (c.stage === "GATHERING" ? "" : "Every agency asked has answered.");
      document.getElementById("agencies").replaceChildren(...c.agency_detail.map(a =>
        el("section", { class: "agency", "data-agency": a.agency, "data-state": a.state },
          el("h3", {}, a.agency, " ", chip(a)),
          el("p", {}, "Asked for: " + a.asked_for.join(", ")),
          a.status ? el("p", {}, `Answer: ${words(a.status)}` + (a.reason ? ` (${a.reason})` : "") +
            ` by ${a.responder}` + (a.in_assembled_case ? "" : " (came after assembly)")) :
            el("p", {}, "No answer yet: ", due(a.respond_by)),
          a.records.length ? el("ul", { class: "records" }, ...a.records.map(r =>
            el("li", {}, el("strong", {}, r.category + (r.risk_flag ? " ⚑ risk" : "")), ": ", r.summary,
              r.date ? ` (${r.date})` : "", ` [${r.reference}]`))) : null)));
      const d = c.decision_detail;
      document.getElementById("decision").replaceChildren(...(d ? [
        el("p", { "data-decision": d.outcome }, el("strong", {}, words(d.outcome)),
          ` by ${d.decided_by}` + (d.lead_agency ? `, lead agency ${d.lead_agency}` : "") + (d.revision > 1 ? ` (revision ${d.revision})` : "")),
        el("p", {}, d.rationale)] : [el("p", {}, c.stage === "GATHERING" ? "Gathering information." : "Decision pending.")]));
    },
    agency(data) {
      const rows = data.requests.map(r => el("tr", { "data-request": r.request_id, "data-case": r.case_id },
        el("td", {}, rag(r.rag)), el("td", {}, r.case_id), el("td", {}, due(r.respond_by)),
        el("td", {}, r.categories.join(", ") + (r.chases ? ` (chased ×${r.chases})` : "")),
        el("td", {}, el("a", { href: "/agency/requests/" + encodeURIComponent(r.request_id), class: "open" }, "Answer"))));
      document.getElementById("requests").replaceChildren(...(rows.length ? rows :
        [el("tr", {}, el("td", { colspan: "5" }, "No requests waiting."))]));
    },
  };

  function broker(up) { document.getElementById("broker").hidden = up !== false; }

  let inflight = false, again = false;
  async function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      const response = await fetch(live.dataset.api, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { location.href = "/login"; return; }
      if (response.ok) {
        const data = await response.json();
        skew = Date.parse(data.now) - Date.now();
        broker(data.broker);
        render[live.dataset.live](data);
        live.dataset.updated = String(Date.now());
      }
    } finally {
      inflight = false;
      if (again) { again = false; refresh(); }
    }
  }

  if (live) {
    const events = new EventSource("/events");
    events.addEventListener("changed", e => { broker(JSON.parse(e.data).broker); refresh(); });
    refresh();
  }

  // The answer form: another record row under a category.
  for (const button of document.querySelectorAll("button.add-record")) {
    button.addEventListener("click", () => {
      const set = button.closest("fieldset");
      const rows = set.querySelectorAll(".record");
      const copy = rows[rows.length - 1].cloneNode(true);
      for (const input of copy.querySelectorAll("input, textarea")) {
        if (input.type === "checkbox") { input.checked = false; input.value = String(rows.length); }
        else input.value = "";
      }
      button.before(copy);
    });
  }
  tick();
})();
